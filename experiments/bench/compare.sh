#!/usr/bin/env bash
# Our network against the identical PyTorch network (bench_pytorch.py), side by side on this
# machine: the same MNIST files, the same number of threads, runs alternating (ours on each
# backend, then PyTorch) for several rounds, then the median of each figure and the ratio
# ours / PyTorch (for times: below 1 is faster; for images/s: above 1 is faster).
#
#   experiments/bench/compare.sh [MNIST_DIR]        (default ../shared/data/mnist)
#
# Environment: ROUNDS (default 5), BACKENDS (default "flex ndarray"), THREADS (default: the
# number of processors). PyTorch is installed into experiments/bench/.venv on first use
# (pip install torch numpy); it is never part of the build or of the tests.
set -euo pipefail
cd "$(dirname "$0")/../.."

mnist=${1:-../shared/data/mnist}
rounds=${ROUNDS:-5}
backends=${BACKENDS:-flex ndarray}
threads=${THREADS:-$(nproc)}
source experiments/bench/venv.sh
cargo build --bin trainer

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq "$rounds"); do
    for backend in $backends; do
        echo "round $round/$rounds: ours ($backend)"
        RAYON_NUM_THREADS=$threads "${CARGO_TARGET_DIR:-target}"/debug/trainer bench --backend "$backend" \
            --data-dir "$mnist" --no-sweep --json "$out/ours-$backend-$round.json" >/dev/null
    done
    echo "round $round/$rounds: PyTorch"
    "$venv/bin/python" experiments/bench/bench_pytorch.py "$mnist" "$threads" >"$out/torch-$round.json"
done

"$venv/bin/python" - "$out" "$threads" <<'EOF'
import glob, json, os, statistics, subprocess, sys

out, threads = sys.argv[1], sys.argv[2]
torch = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/torch-*.json"))]
ours = {}
for path in sorted(glob.glob(f"{out}/ours-*.json")):
    for b in json.load(open(path))["backends"]:
        ours.setdefault(b["backend"], []).append(b)
median = lambda rows, key: statistics.median(r[key] for r in rows)
figures = [
    ("training epoch, 60k images, batch 50 (s)", "train_epoch_s", "train_epoch_s", "time"),
    ("training epoch, 60k images, batch 10 (s)", "train_epoch_b10_s", "train_epoch_b10_s", "time"),
    ("test pass, 10k images (s)", "test_pass_s", "test_pass_s", "time"),
    ("inference, batch 1 (images/s)", "infer_b1_images_per_s", "infer_b1_ips", "rate"),
    ("inference, batch 1000 (images/s)", "infer_b1000_images_per_s", "infer_b1000_ips", "rate"),
]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
load = os.getloadavg()[0]
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"\n{cpu}, {threads} threads, {len(torch)} rounds, medians; load average at the end {load:.2f}; "
      f"revision {rev}; PyTorch {torch[0]['torch']}")
for backend, rows in ours.items():
    print(f"\n| {backend} vs PyTorch | ours | PyTorch | ratio ours/PyTorch |")
    print("| --- | --- | --- | --- |")
    for label, key, tkey, kind in figures:
        a, b = median(rows, key), median(torch, tkey)
        fmt = (lambda v: f"{v:.2f}") if kind == "time" else (lambda v: f"{v:,.0f}")
        verdict = "faster" if (a < b if kind == "time" else a > b) else "slower"
        print(f"| {label} | {fmt(a)} | {fmt(b)} | {a / b:.2f} ({verdict}) |")
EOF
