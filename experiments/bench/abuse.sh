#!/usr/bin/env bash
# Hostile clients against `trainer serve` (the shipped model, a free port of 127.0.0.1): the
# worst-case images the limits admit, 32 at once, and 1100 half-sent or trickling connections.
# Prints the server's peak memory, its answers and a normal request's latency meanwhile
# (abuse.py). Only loopback is contacted; every loop is bounded. Results: RESULTS.md.
#
#   experiments/bench/abuse.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --bin trainer
ulimit -n 4096 # the 1100 client sockets of this script
log=$(mktemp)
target/release/trainer serve --addr 127.0.0.1:0 >"$log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "^serving " "$log" && break; sleep 0.1; done
url=$(sed -n 's/^serving \(http:[^ ]*\).*/\1/p' "$log")
echo "$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) threads; $url"
python3 experiments/bench/abuse.py "$url" "$server" assets/digits/3.png
