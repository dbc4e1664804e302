#!/usr/bin/env bash
# Hostile clients against `trainer serve` (the shipped model, a free port of 127.0.0.1): the
# worst-case images the limits admit, 32 at once, and 1100 half-sent or trickling connections.
# Prints the server's peak memory, its answers and a normal request's latency meanwhile
# (abuse.py). Only loopback is contacted; every loop is bounded. Results: RESULTS.md.
#
#   experiments/bench/abuse.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ulimit -n 4096 # the 1100 client sockets of this script
source experiments/bench/serve_start.sh
python3 experiments/bench/abuse.py "$url" "$server" assets/digits/3.png
