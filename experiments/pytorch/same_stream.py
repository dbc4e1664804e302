#!/usr/bin/env python3
"""The identical PyTorch network trained on a recipe run's exact stream, beside ours.

Reads what lenet-burn's `stream` example (crates/lenet/examples/stream.rs) wrote for one seed:
the initial weights (init.safetensors), the deskewed test images (test.u8) and every epoch's
training images in the trainer's order, distorted as the trainer distorted them (epoch_E.u8),
and ours.json (our run of the same stream through the trainer's loop: test error per epoch,
the first 500 steps' objective). Trains train_lenet.py's LeNet on them with the recipe's
batch 10 and lr 1, and prints its test error per epoch beside ours, and the largest relative
difference of the objective over the first 500 steps.

  --images own   the stream holds plain images (`stream ... none`): each batch is distorted
                 by PyTorch's own affine distortions (time_to_accuracy.py) instead;
  --init own     PyTorch's own initialisation (train_lenet.py's, times 4) from --seed instead
                 of ours.
With --images own the stream was written with `none`: its ours.json (printed as "ours") is our run
without distortions, not a run PyTorch's can be compared with step for step.

Usage: same_stream.py STREAM_DIR [--threads T] [--images stream|own] [--init stream|own]
       [--seed S]
Prints a JSON line last. Needs torch, numpy, safetensors (experiments/bench/venv.sh).
"""
import argparse
import json
import pathlib
import sys

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from time_to_accuracy import affine  # noqa: E402  PyTorch's distortions of the recipe
from train_lenet import LeNet, scale_weights, sgd_step, test_error  # noqa: E402  the same network

BATCH = 10
RECORD = 1 + 28 * 28


def records(path):
    """(images [n, 1, 28, 28] in [0, 1], labels [n]) of a file of label + 784 grey levels."""
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD)
    images = torch.tensor(raw[:, 1:].reshape(-1, 1, 28, 28), dtype=torch.float32) / 255.0
    return images, torch.tensor(raw[:, 0], dtype=torch.long)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("stream", type=pathlib.Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", choices=["stream", "own"], default="stream")
    parser.add_argument("--init", choices=["stream", "own"], default="stream")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ours = json.loads((args.stream / "ours.json").read_text())
    test_x, test_y = records(args.stream / "test.u8")
    model = LeNet()
    if args.init == "stream":
        model.load_state_dict(load_file(args.stream / "init.safetensors"))
    else:
        scale_weights(model, 4.0)
    generator = torch.Generator().manual_seed(args.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    losses, errors = [], []
    epochs = len(ours["test_error"])
    for epoch in range(1, epochs + 1):
        train_x, train_y = records(args.stream / f"epoch_{epoch}.u8")
        for begin in range(0, len(train_x), BATCH):
            x, y = train_x[begin:begin + BATCH], train_y[begin:begin + BATCH]
            if args.images == "own":
                x = affine(x, generator)
            loss = sgd_step(model, optimizer, x, y)
            if len(losses) < len(ours["losses"]):
                losses.append(loss.item())
        error = test_error(model, test_x, test_y)
        errors.append(error)
        print(f"epoch {epoch}: test error {error:.2f} % (PyTorch), "
              f"{ours['test_error'][epoch - 1]:.2f} % (ours)", flush=True)
    ours_losses = np.array(ours["losses"][:len(losses)])
    relative = np.abs(ours_losses - np.array(losses)) / np.abs(ours_losses)

    def first_below(curve, level):
        return next((epoch for epoch, e in enumerate(curve, 1) if e < level), None)

    print(json.dumps({
        "seed": ours["seed"], "images": args.images, "init": args.init,
        "torch": torch.__version__,
        "max_relative_loss_difference_first_steps": float(relative.max()),
        "steps_compared": len(losses),
        "pytorch_test_error": errors, "ours_test_error": ours["test_error"],
        "pytorch_below_1_5": first_below(errors, 1.5),
        "ours_below_1_5": first_below(ours["test_error"], 1.5),
        "pytorch_below_1_0": first_below(errors, 1.0),
        "ours_below_1_0": first_below(ours["test_error"], 1.0),
    }))


if __name__ == "__main__":
    main()
