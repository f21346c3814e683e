-- wrk script: BatchWriteItem of 25 ~100-byte items per request, unique keys.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

request = function()
  local items = {}
  for i = 1, 25 do
    counter = counter + 1
    items[i] = string.format(
      '{"PutRequest":{"Item":{"id":{"S":"b%d-%012d"},"n":{"N":"%d"},"payload":{"S":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}}}',
      id, counter, counter)
  end
  local body = '{"RequestItems":{"bench":[' .. table.concat(items, ",") .. ']}}'
  return wrk.format("POST", "/", {["Content-Type"] = "application/x-amz-json-1.0", ["X-Amz-Target"] = "DynamoDB_20120810.BatchWriteItem"}, body)
end

response = function(status, headers, body)
  if status ~= 200 then
    print("unexpected status " .. status .. ": " .. body)
    wrk.thread:stop()
  end
end
