-- wrk script: GetItem of keys written by put_item.lua (w0-000000000002 .. w0-000000001001: wrk builds and
-- discards one request per thread before it starts, so the put script's first key is never written).
local counter = 0

request = function()
  counter = (counter % 1000) + 2
  local body = string.format('{"TableName":"bench","Key":{"id":{"S":"w0-%012d"}}}', counter)
  return wrk.format("POST", "/", {["Content-Type"] = "application/x-amz-json-1.0", ["X-Amz-Target"] = "DynamoDB_20120810.GetItem"}, body)
end

response = function(status, headers, body)
  if status ~= 200 then
    print("unexpected status " .. status .. ": " .. body)
    wrk.thread:stop()
  end
end
