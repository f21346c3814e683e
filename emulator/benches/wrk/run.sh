#!/usr/bin/env bash
# The light-load benchmark of BRIEF §6: wrk (2 threads, 16 connections) against a release ddbrep-emu on a
# durable database. Usage: emulator/benches/wrk/run.sh [SECONDS]. Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/../../.."
secs="${1:-10}"
cargo build --release -p ddbrep-emu >/dev/null
dir=$(mktemp -d)
target/release/ddbrep-emu --listen 127.0.0.1:0 --db "$dir/bench.sqlite" --log warn > "$dir/out" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
until grep -q listening "$dir/out"; do sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$dir/out")
curl -s -o /dev/null -H 'X-Amz-Target: DynamoDB_20120810.CreateTable' -H 'Content-Type: application/x-amz-json-1.0' \
  -d '{"TableName":"bench","BillingMode":"PAY_PER_REQUEST","AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}' "$url/"
rate() { awk '/Requests\/sec/ {print $2}'; }
put=$(wrk -t2 -c16 -d"${secs}s" -s emulator/benches/wrk/put_item.lua "$url" | rate)
get=$(wrk -t2 -c16 -d"${secs}s" -s emulator/benches/wrk/get_item.lua "$url" | rate)
batch=$(wrk -t2 -c16 -d"${secs}s" -s emulator/benches/wrk/batch_write.lua "$url" | rate)
scan=$(wrk -t1 -c1 -d"${secs}s" -s emulator/benches/wrk/scan.lua "$url" | rate)
curl -s -o /dev/null -X PUT "$url/bench"
s3put=$(wrk -t2 -c16 -d"${secs}s" -s emulator/benches/wrk/s3_put.lua "$url" | rate)
s3get=$(wrk -t2 -c16 -d"${secs}s" -s emulator/benches/wrk/s3_get.lua "$url" | rate)
echo "| wrk, 2 threads, 16 connections, ${secs}s | rate |"
echo "|---|---|"
echo "| PutItem | $put req/s |"
echo "| GetItem | $get req/s |"
echo "| BatchWriteItem (25 items) | $(awk "BEGIN {printf \"%.0f\", $batch * 25}") items/s |"
echo "| Scan (1 connection, 1,000-item pages) | $(awk "BEGIN {printf \"%.0f\", $scan * 1000}") items/s |"
echo "| S3 PutObject, 1 KiB | $s3put req/s |"
echo "| S3 GetObject, 1 KiB | $s3get req/s |"
