-- wrk script: S3 PutObject of 1 KiB bodies to unique keys in bucket "bench" (path style, unsigned).
local counter = 0
local threads = {}
local body = string.rep("x", 1024)

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  return wrk.format("PUT", string.format("/bench/t%d/object-%012d", id, counter), {["Content-Type"] = "application/octet-stream"}, body)
end

response = function(status, headers, body)
  if status ~= 200 then
    print("unexpected status " .. status .. ": " .. body)
    wrk.thread:stop()
  end
end
