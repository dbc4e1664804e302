#!/usr/bin/env python3
"""Step for step, ours against the identical PyTorch network.

Runs lenet-burn's `steps` example (crates/lenet/examples/steps.rs), which writes its initial
weights (init.safetensors, PyTorch's names and layout), trains 500 plain-SGD steps (lr 1,
batch 50, the paper's objective 1/m sum 1/2 ||t - y||^2) on the training images in file order
and records each step's objective and the final weights. Then trains train_lenet.py's LeNet from
the same initial weights on the same batches in the same order, and compares: the objective after
each step (relative difference), and every weight after the last step (absolute difference).

Usage: experiments/bench/.venv/bin/python experiments/pytorch/step_equality.py [MNIST_DIR] [STEPS] [composed|fused]
(run from the repository root; default ../shared/data/mnist, 500, both paths). Needs torch, numpy and
safetensors (experiments/bench/venv.sh installs them). Exits 1 when a tolerance is exceeded.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from train_lenet import LeNet, load, sgd_step  # noqa: E402  the same network and MNIST reader

BATCH = 50
LOSS_TOLERANCE = 1e-4  # relative, per step
WEIGHT_TOLERANCE = 1e-3  # absolute, after the last step


def ours(mnist, out, steps, path):
    subprocess.run(
        ["cargo", "build", "--quiet", "--example", "steps"], check=True)
    subprocess.run(
        ["target/debug/examples/steps", str(mnist), str(out), str(steps), path], check=True)
    losses = json.loads((out / "losses.json").read_text())["losses"]
    return np.array(losses, dtype=np.float64), load_file(out / "final.safetensors")


def pytorch(mnist, init, steps):
    torch.set_num_threads(int(os.environ.get("THREADS", os.cpu_count())))
    train_x, train_y = load(mnist, "train")
    model = LeNet()
    model.load_state_dict(init)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    losses = []
    for step in range(steps):
        batch = slice(step * BATCH, (step + 1) * BATCH)
        losses.append(sgd_step(model, optimizer, train_x[batch], train_y[batch]).item())
    return np.array(losses, dtype=np.float64), model.state_dict()


def main():
    mnist = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mnist")
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    paths = sys.argv[3:] or ["fused", "composed"]
    failed = False
    for path in paths:
        with tempfile.TemporaryDirectory() as out:
            out = pathlib.Path(out)
            our_losses, our_weights = ours(mnist, out, steps, path)
            init = load_file(out / "init.safetensors")
            torch_losses, torch_weights = pytorch(mnist, init, steps)
        relative = np.abs(our_losses - torch_losses) / np.abs(torch_losses)
        weights = {name: (our_weights[name] - torch_weights[name]).abs().max().item()
                   for name in torch_weights}
        print(f"ours ({path}) against PyTorch {torch.__version__}, {steps} steps of {BATCH}:")
        for step in sorted({0, 1, 9, 99, 199, 299, 399, steps - 1}):
            if step < steps:
                print(f"  step {step + 1:4d}: loss {our_losses[step]:.7f} (ours) "
                      f"{torch_losses[step]:.7f} (PyTorch), relative difference {relative[step]:.1e}")
        worst = int(relative.argmax())
        print(f"  largest relative loss difference: {relative[worst]:.2e} at step {worst + 1} "
              f"(tolerance {LOSS_TOLERANCE:g})")
        print("  largest weight difference after the last step: " + ", ".join(
            f"{name} {diff:.1e}" for name, diff in weights.items()) + f" (tolerance {WEIGHT_TOLERANCE:g})")
        if relative.max() > LOSS_TOLERANCE or max(weights.values()) > WEIGHT_TOLERANCE:
            print("  NOT EQUAL")
            failed = True
        else:
            print("  equal within the tolerances")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
