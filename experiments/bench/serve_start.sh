# Sourced by serve_load.sh and abuse.sh (from the repository's root): builds the trainer, starts
# `trainer serve` with the shipped model on a free port of 127.0.0.1, stops it when the script
# exits, and sets `server` (its PID) and `url`; prints the machine and the URL.
cargo build --bin trainer
log=$(mktemp)
"${CARGO_TARGET_DIR:-target}"/debug/trainer serve --addr 127.0.0.1:0 >"$log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "^serving " "$log" && break; sleep 0.1; done
url=$(sed -n 's/^serving \(http:[^ ]*\).*/\1/p' "$log")
echo "$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) threads; $url"
