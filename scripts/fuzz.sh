#!/usr/bin/env bash
# Fuzzes the IDX parser for a bounded time: scripts/fuzz.sh [SECONDS] (default 60).
# Not part of CI's default path. cargo-fuzz needs nightly flags; on a stable toolchain they are
# enabled with RUSTC_BOOTSTRAP=1 (the sanitizer runtime ships with stable's rust-std).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_FUZZ:-$HOME/.cache/lenet-burn/fuzz-target}"
mkdir -p corpus/idx
cargo fuzz run idx corpus/idx -- -max_total_time="$seconds" -max_len=4096
