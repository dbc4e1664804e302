#!/usr/bin/env bash
# Load test of `trainer serve` on loopback: starts the server with the shipped model on a free
# port of 127.0.0.1, has 16 clients post the sample digits (4000 requests at most, 60 s at
# most), prints requests/s and latency percentiles, stops the server. Fails if any request
# failed or was misread.
#
#   experiments/bench/serve_load.sh [CLIENTS] [REQUESTS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source experiments/bench/serve_start.sh
node experiments/bench/serve_load.mjs "$url" assets/digits "${1:-16}" "${2:-4000}" "${3:-60}"
