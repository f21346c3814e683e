#!/usr/bin/env bash
# The light-load benchmark of BRIEF §6: wrk (2 threads, 16 connections) against a release ddbrep-emu on a
# durable database. Usage: emulator/benches/wrk/run.sh [SECONDS]. Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/../../.."
secs="${1:-10}"
cargo build --release -p ddbrep-emu --locked >/dev/null
dir=$(mktemp -d)
"${CARGO_TARGET_DIR:-target}/release/ddbrep-emu" --listen 127.0.0.1:0 --db "$dir/bench.sqlite" --log warn > "$dir/out" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
until grep -q listening "$dir/out"; do sleep 0.05; done
url=$(grep -o 'http://[0-9.:]*' "$dir/out")
curl -s -o /dev/null -H 'X-Amz-Target: DynamoDB_20120810.CreateTable' -H 'Content-Type: application/x-amz-json-1.0' \
  -d '{"TableName":"bench","BillingMode":"PAY_PER_REQUEST","AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}' "$url/"
# One phase: "<requests/s> <p99 latency>".
phase() {
  local threads=$1 conns=$2 script=$3
  wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "emulator/benches/wrk/$script" "$url" |
    awk '/Requests\/sec/ {r = $2} /^ +99%/ {p = $2} END {print r, p}'
}
read -r put put99 < <(phase 2 16 put_item.lua)
read -r get get99 < <(phase 2 16 get_item.lua)
read -r batch batch99 < <(phase 2 16 batch_write.lua)
read -r scan scan99 < <(phase 1 1 scan.lua)
curl -s -o /dev/null -X PUT "$url/bench"
read -r s3put s3put99 < <(phase 2 16 s3_put.lua)
read -r s3get s3get99 < <(phase 2 16 s3_get.lua)
echo "| wrk, 2 threads, 16 connections, ${secs}s | rate | p99 latency |"
echo "|---|---|---|"
echo "| PutItem | $put req/s | $put99 |"
echo "| GetItem | $get req/s | $get99 |"
echo "| BatchWriteItem (25 items) | $(awk "BEGIN {printf \"%.0f\", $batch * 25}") items/s | $batch99 |"
echo "| Scan (1 connection, 1,000-item pages) | $(awk "BEGIN {printf \"%.0f\", $scan * 1000}") items/s | $scan99 |"
echo "| S3 PutObject, 1 KiB | $s3put req/s | $s3put99 |"
echo "| S3 GetObject, 1 KiB | $s3get req/s | $s3get99 |"
