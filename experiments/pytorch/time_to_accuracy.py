#!/usr/bin/env python3
"""Time to accuracy of the identical PyTorch network under the recipe of
experiments/best_recipe.toml, beside ours (experiments/results/best_recipe/): the network,
initialisation and objective of train_lenet.py, the recipe's batch size, learning rate and
epochs, MNIST deskewed the way lenet-burn deskews (image moments, a horizontal shear, linear
interpolation). Prints, per epoch, the test error and the seconds since the start (training
time only; the test pass after each epoch is not counted), then the first epoch and time
below 1.5 % and below 1.0 %, as JSON on the last line.

The recipe's other two ingredients as lenet-burn has them: `--init logistic` multiplies the
toolbox initialisation by 4 (Glorot and Bengio's bound for logistic units), `--augment affine`
distorts every training image anew each epoch by a random rotation of up to ±12°, a scaling by
0.9-1.1 and a shift of up to ±2 pixels about the image centre, bilinear, rounded to grey levels
(crates/lenet/src/data/augment.rs; same distribution, not the same random numbers).

Usage: time_to_accuracy.py MNIST_DIR THREADS [--epochs N] [--batch-size B] [--lr ETA]
       [--seed S] [--no-deskew] [--init toolbox|logistic] [--augment none|affine] [--all-epochs]
Needs torch and numpy (experiments/bench/compare.sh installs them into experiments/bench/.venv).
"""
import argparse
import json
import pathlib
import time

import numpy as np
import torch
from torch import nn

from train_lenet import LeNet, load, scale_weights, sgd_step, test_error


def deskew(images):
    """lenet-burn's deskewing (crates/lenet/src/data/deskew.rs) on uint8 images [n, 28, 28]."""
    out = np.zeros_like(images)
    ys, xs = np.mgrid[0:28, 0:28].astype(np.float64)
    for i, image in enumerate(images.astype(np.float64)):
        mass = image.sum()
        if mass == 0:
            continue
        cx, cy = (image * xs).sum() / mass, (image * ys).sum() / mass
        mu11 = (image * (xs - cx) * (ys - cy)).sum()
        mu02 = (image * (ys - cy) ** 2).sum()
        alpha = 0.0 if mu02 == 0 else mu11 / mu02
        for y in range(28):
            source = np.arange(28) + alpha * (y - cy)
            left = np.floor(source)
            frac = source - left
            row = image[y]

            def at(index):
                inside = (index >= 0) & (index < 28)
                values = np.zeros(28)
                values[inside] = row[index[inside].astype(int)]
                return values

            value = (1 - frac) * at(left) + frac * at(left + 1)
            out[i, y] = np.clip(np.round(value), 0, 255).astype(np.uint8)
    return out


def affine(images, generator):
    """Random rotation/scaling/shift of each image [n, 1, 28, 28] in [0, 1] (see the docstring)."""
    n = images.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * (12.0 * np.pi / 180.0)
    scale = 1.0 + (torch.rand(n, generator=generator) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * 2.0
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # Output pixel p (from the centre) reads input R^-1 (p - shift) / s; affine_grid works in
    # coordinates normalised by the half-width 13.5 (align_corners=True), the same map.
    m = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)
    t = -(m @ shift.unsqueeze(2)).squeeze(2) / 13.5
    theta = torch.cat([m, t.unsqueeze(2)], 2)
    grid = nn.functional.affine_grid(theta, list(images.shape), align_corners=True)
    out = nn.functional.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                                    align_corners=True)
    return (out * 255).round().clamp(0, 255) / 255


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mnist")
    parser.add_argument("threads", type=int)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-deskew", action="store_true")
    parser.add_argument("--init", choices=["toolbox", "logistic"], default="logistic")
    parser.add_argument("--augment", choices=["none", "affine"], default="affine")
    parser.add_argument("--all-epochs", action="store_true",
                        help="run every epoch instead of stopping below 1.0 %%")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    mnist = pathlib.Path(args.mnist)
    train_x, train_y = load(mnist, "train")
    test_x, test_y = load(mnist, "t10k")
    if not args.no_deskew:
        train_x = torch.tensor(deskew((train_x * 255).round().squeeze(1).numpy().astype(np.uint8)),
                               dtype=torch.float32).unsqueeze(1) / 255.0
        test_x = torch.tensor(deskew((test_x * 255).round().squeeze(1).numpy().astype(np.uint8)),
                              dtype=torch.float32).unsqueeze(1) / 255.0
    model = LeNet()
    if args.init == "logistic":
        scale_weights(model, 4.0)
    generator = torch.Generator().manual_seed(args.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    trained = 0.0
    first = {}
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(len(train_x))
        for begin in range(0, len(train_x), args.batch_size):
            batch = order[begin:begin + args.batch_size]
            x = train_x[batch]
            if args.augment == "affine":
                x = affine(x, generator)
            sgd_step(model, optimizer, x, train_y[batch])
        trained += time.perf_counter() - start
        error = test_error(model, test_x, test_y)
        print(f"epoch {epoch}: test error {error:.2f} %, {trained:.1f} s of training", flush=True)
        for level in (1.5, 1.0):
            if error < level and level not in first:
                first[level] = {"epoch": epoch, "seconds": trained}
        if 1.0 in first and not args.all_epochs:
            break
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "batch_size": args.batch_size, "lr": args.lr, "deskew": not args.no_deskew,
                      "init": args.init, "augment": args.augment,
                      "below_1_5": first.get(1.5), "below_1_0": first.get(1.0)}))


if __name__ == "__main__":
    main()
