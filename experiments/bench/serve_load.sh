#!/usr/bin/env bash
# Load test of `trainer serve` on loopback: starts the server with the shipped model on a free
# port of 127.0.0.1, has 16 clients post the sample digits (4000 requests at most, 60 s at
# most), prints requests/s and latency percentiles, stops the server. Fails if any request
# failed or was misread.
#
#   experiments/bench/serve_load.sh [CLIENTS] [REQUESTS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --bin trainer
log=$(mktemp)
target/release/trainer serve --addr 127.0.0.1:0 >"$log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "^serving " "$log" && break; sleep 0.1; done
url=$(sed -n 's/^serving \(http:[^ ]*\).*/\1/p' "$log")
echo "$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) threads; $url"
node experiments/bench/serve_load.mjs "$url" assets/digits "${1:-16}" "${2:-4000}" "${3:-60}"
