#!/usr/bin/env bash
# Time to accuracy of the recipe (experiments/best_recipe.toml) here and in the identical PyTorch
# network trained with the same recipe (experiments/pytorch/time_to_accuracy.py), side by side:
# runs alternate (ours, then PyTorch) for each seed, same MNIST files, same thread count. Prints
# per run the first epoch and the seconds until the test error falls below 1.5 % and below
# 1.0 %, then the medians and the ratio ours / PyTorch.
#
#   experiments/bench/time_to_accuracy.sh [MNIST_DIR]      (default ../shared/data/mnist)
#
# Environment: SEEDS (default "1 2"), EPOCHS (default 60: the recipe's learning rate is
# constant, so its first 60 epochs are those of the 100-epoch recipe), THREADS (default: the
# number of processors). Seconds: ours are the epochs' times as the trainer prints them
# (training and the 10 000-image test pass); PyTorch's count training only. PyTorch goes into
# experiments/bench/.venv (see compare.sh); never part of the build or the tests.
set -euo pipefail
cd "$(dirname "$0")/../.."

mnist=${1:-../shared/data/mnist}
seeds=${SEEDS:-1 2}
epochs=${EPOCHS:-60}
threads=${THREADS:-$(nproc)}
source experiments/bench/venv.sh
cargo build --bin trainer

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for seed in $seeds; do
    echo "seed $seed: ours"
    RAYON_NUM_THREADS=$threads "${CARGO_TARGET_DIR:-target}"/debug/trainer --data-dir "$mnist" --epochs "$epochs" \
        --batch-size 10 --lr 1 --deskew --init logistic --augment affine --seed "$seed" \
        --artifact-dir "$out/run-$seed" --overwrite >"$out/ours-$seed.log"
    echo "seed $seed: PyTorch"
    (cd experiments/pytorch && "../../$venv/bin/python" time_to_accuracy.py "../../$mnist" "$threads" \
        --epochs "$epochs" --batch-size 10 --lr 1 --seed "$seed" --init logistic \
        --augment affine) >"$out/torch-$seed.log"
done

python3 - "$out" <<'PY'
import glob, json, re, statistics, sys

out = sys.argv[1]
def ours(path):
    first, total = {}, 0.0
    for line in open(path):
        m = re.match(r"epoch\s+(\d+)/\d+ .*test loss \S+ error\s+([\d.]+)% \| ([\d.]+) s", line)
        if not m:
            continue
        epoch, error, seconds = int(m[1]), float(m[2]), float(m[3])
        total += seconds
        for level in (1.5, 1.0):
            if error < level and level not in first:
                first[level] = {"epoch": epoch, "seconds": total}
    return first
def torch(path):
    result = json.loads(open(path).read().strip().splitlines()[-1])
    return {1.5: result["below_1_5"], 1.0: result["below_1_0"]}
rows = {"ours": [], "PyTorch": []}
for path in sorted(glob.glob(f"{out}/ours-*.log")):
    rows["ours"].append(ours(path))
for path in sorted(glob.glob(f"{out}/torch-*.log")):
    rows["PyTorch"].append(torch(path))
def cell(r, level):
    x = r.get(level)
    return "not reached" if not x else f"epoch {x['epoch']}, {x['seconds']:.0f} s"
print("| | seed | below 1.5 % | below 1.0 % |\n|---|---|---|---|")
seeds = sys.argv[2:] or None
for name, runs in rows.items():
    for i, r in enumerate(runs):
        print(f"| {name} | run {i + 1} | {cell(r, 1.5)} | {cell(r, 1.0)} |")
for level in (1.5, 1.0):
    def med(runs, key):
        values = [r[level][key] for r in runs if r.get(level)]
        return statistics.median(values) if len(values) == len(runs) else None
    o, t = med(rows["ours"], "seconds"), med(rows["PyTorch"], "seconds")
    oe, te = med(rows["ours"], "epoch"), med(rows["PyTorch"], "epoch")
    if o is not None and t is not None:
        print(f"below {level} %: median epochs ours {oe:g}, PyTorch {te:g}; median seconds ours "
              f"{o:.0f}, PyTorch {t:.0f}; ratio ours/PyTorch {o / t:.2f}")
    else:
        print(f"below {level} %: not reached by every run within the epochs run")
PY
