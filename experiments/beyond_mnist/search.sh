#!/usr/bin/env bash
# The pen's distortions (--thickness, --blur) and the resolution (--resolution) chosen on
# validation data only: each setting trains
# the recipe with the last 10 000 training images held out (--holdout 10000), then is measured on
# that held-out split (MNIST validation error, evaluation.json) and on 2000 of the same held-out
# digits as simulated phone photos and in optdigits' 8x8 form (`experiments photos --split
# validation`, other seeds than the test photos), read through `trainer predict` as a user's
# files. Neither MNIST's test split nor optdigits nor the test photos are read here. Prints (and
# appends to OUT/results.txt) each setting's three error rates.
#
# Usage: experiments/beyond_mnist/search.sh [OUT]   (from the repository's root, after
#   cargo build --bin trainer --bin experiments)
# Settings: EPOCHS (30), SEED (1), SETTINGS ("THICKNESS:BLUR[:RESOLUTION] ..."; no resolution:
# full resolution only), DATA (../shared/data/mnist).
set -euo pipefail
out=${1:-runs/pen-search}
data=${DATA:-../shared/data/mnist}
epochs=${EPOCHS:-30}
seed=${SEED:-1}
target=${CARGO_TARGET_DIR:-target}/debug
here=$(dirname "$0")
mkdir -p "$out"
for kind in paper cells; do
    [ -d "$out/$kind" ] || "$target/experiments" photos --data-dir "$data" --split validation \
        --kind "$kind" --count 2000 --out "$out/$kind"
done
# The error rate, %, of the model in folder $2 on the images of $out/$1.
error() {
    python3 "$here/score.py" "$out/$1" --trainer "$target/trainer" --model "$2" | tail -1 |
        python3 -c "import json,sys; print(round(json.load(sys.stdin)['error_percent'], 2))"
}
for setting in ${SETTINGS:-0:0 0.5:0 1:0 0:1 0.5:1 1:1}; do
    IFS=: read -r thickness blur resolution <<< "$setting"
    resolution=${resolution:-0}
    run="$out/thickness-$thickness-blur-$blur-seed-$seed"
    [ "$resolution" = 0 ] || run="$out/thickness-$thickness-blur-$blur-resolution-$resolution-seed-$seed"
    if [ ! -f "$run/evaluation.json" ]; then
        "$target/trainer" --data-dir "$data" --holdout 10000 --epochs "$epochs" --batch-size 10 \
            --deskew --init logistic --augment affine --schedule tail --decay-epochs 10 \
            --seed "$seed" --thickness "$thickness" --blur "$blur" --resolution "$resolution" \
            --artifact-dir "$run" --overwrite \
            > "$run.log" 2>&1
    fi
    validation=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['test_error'])" \
        "$run/evaluation.json")
    echo "thickness $thickness blur $blur resolution $resolution seed $seed:" \
        "MNIST validation $validation %," \
        "photos $(error paper "$run") %, cells $(error cells "$run") %" | tee -a "$out/results.txt"
done
