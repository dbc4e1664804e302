#!/usr/bin/env bash
# The identical PyTorch network trained on our recipe run's exact stream (the speed issue's step-
# for-step question, with distortions): for each seed, lenet-burn's `stream` example writes the
# initial weights, the deskewed test set and every epoch's images in the trainer's order with the
# trainer's distortions, and trains ours through the trainer's loop; then
# experiments/pytorch/same_stream.py trains PyTorch on exactly that stream (stage "stream"), on
# the same order with PyTorch's own distortions and our initial weights (stage "own"), or on our
# stream from PyTorch's own initial weights (stage "init").
# Prints per epoch the test error of both, and a JSON line per run.
#
#   experiments/bench/same_stream.sh [MNIST_DIR]      (default ../shared/data/mnist)
#
# Environment: SEEDS (default "1 2 3"), EPOCHS (default 20), STAGES (default "stream own"; also "init"),
# THREADS (default: the number of processors). Disk: 47 MB an epoch while a seed runs.
set -euo pipefail
cd "$(dirname "$0")/../.."

mnist=${1:-../shared/data/mnist}
seeds=${SEEDS:-1 2 3}
epochs=${EPOCHS:-20}
stages=${STAGES:-stream own}
threads=${THREADS:-$(nproc)}
source experiments/bench/venv.sh
cargo build --example stream

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for seed in $seeds; do
    for stage in $stages; do
        dir="$out/$seed-$stage"
        augment=affine images=stream init=stream
        [ "$stage" = own ] && augment=none images=own
        [ "$stage" = init ] && init=own
        echo "seed $seed, stage $stage: ours ($augment)"
        RAYON_NUM_THREADS=$threads "${CARGO_TARGET_DIR:-target}"/debug/examples/stream "$mnist" "$dir" "$seed" "$epochs" "$augment" \
            | grep -E '^epoch' || true
        echo "seed $seed, stage $stage: PyTorch"
        "$venv/bin/python" experiments/pytorch/same_stream.py "$dir" --threads "$threads" \
            --images "$images" --init "$init" --seed "$seed"
        rm -rf "$dir"
    done
done
