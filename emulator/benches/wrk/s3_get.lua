-- wrk script: S3 GetObject of the 1 KiB objects s3_put.lua wrote (t0/object-000000000002 .. 1001: wrk
-- builds and discards one request per thread before it starts, so the put script's first key is never sent).
local counter = 0

request = function()
  counter = (counter % 1000) + 2
  return wrk.format("GET", string.format("/bench/t0/object-%012d", counter))
end

response = function(status, headers, body)
  if status ~= 200 then
    print("unexpected status " .. status .. ": " .. body)
    wrk.thread:stop()
  end
end
