-- wrk script: Scan pages of 1,000 items (one connection models "one Scan client").
request = function()
  return wrk.format("POST", "/", {["Content-Type"] = "application/x-amz-json-1.0", ["X-Amz-Target"] = "DynamoDB_20120810.Scan"}, '{"TableName":"bench","Limit":1000}')
end
