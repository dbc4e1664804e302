#!/usr/bin/env python3
"""The PyTorch side of compare.sh: the network of experiments/pytorch/train_lenet.py (the same
improved LeNet-5, initialisation, objective 1/m sum 1/2 ||t - y||^2 and plain SGD), timed the way
`trainer bench` times ours, on the same MNIST files and the same number of threads.

Prints one JSON object:
  train_epoch_s   one pass over the 60k training images, batch 50, SGD lr 1 (shuffled, as ours)
  test_pass_s     the 10k test images at batch 1000, no gradients
  infer_b1_ips    images/s classifying one image at a time (no gradients)
  infer_b1000_ips images/s classifying batches of 1000 (no gradients)
  test_error      test error % after the epoch (a sanity check: ours is ~11 % after one epoch)

Usage: bench_pytorch.py MNIST_DIR THREADS [--train-images N]
"""
import argparse
import gzip
import json
import math
import pathlib
import time

import numpy as np
import torch
from torch import nn


def idx(path, header):
    return np.frombuffer(gzip.open(path).read()[header:], dtype=np.uint8)


def load(mnist, prefix):
    images = idx(mnist / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    labels = idx(mnist / f"{prefix}-labels-idx1-ubyte.gz", 8)
    return torch.tensor(images, dtype=torch.float32) / 255.0, torch.tensor(labels, dtype=torch.long)


class LeNet(nn.Module):
    def __init__(self, c1=6, c3=12, k=5):
        super().__init__()
        self.c1 = nn.Conv2d(1, c1, k)
        self.c3 = nn.Conv2d(c1, c3, k)
        self.fc = nn.Linear(c3 * 4 * 4, 10)
        for conv in (self.c1, self.c3):
            out_maps, in_maps = conv.weight.shape[:2]
            bound = math.sqrt(6.0 / (in_maps * k * k + out_maps * k * k))
            nn.init.uniform_(conv.weight, -bound, bound)
            nn.init.zeros_(conv.bias)
        bound = math.sqrt(6.0 / (c3 * 16 + 10))
        nn.init.uniform_(self.fc.weight, -bound, bound)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        x = nn.functional.avg_pool2d(torch.sigmoid(self.c1(x)), 2)
        x = nn.functional.avg_pool2d(torch.sigmoid(self.c3(x)), 2)
        return torch.sigmoid(self.fc(x.flatten(1)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mnist")
    parser.add_argument("threads", type=int)
    parser.add_argument("--train-images", type=int, default=60000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    mnist = pathlib.Path(args.mnist)
    train_x, train_y = load(mnist, "train")
    test_x, test_y = load(mnist, "t10k")
    train_x, train_y = train_x[: args.train_images], train_y[: args.train_images]
    model = LeNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)

    start = time.perf_counter()
    order = torch.randperm(len(train_x))
    for begin in range(0, len(train_x), 50):
        batch = order[begin : begin + 50]
        y = model(train_x[batch])
        t = nn.functional.one_hot(train_y[batch], 10).float()
        loss = 0.5 * ((t - y) ** 2).sum(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    train_epoch = time.perf_counter() - start

    with torch.no_grad():
        start = time.perf_counter()
        wrong = 0
        for begin in range(0, len(test_x), 1000):
            outputs = model(test_x[begin : begin + 1000])
            wrong += (outputs.argmax(1) != test_y[begin : begin + 1000]).sum().item()
        test_pass = time.perf_counter() - start

        singles = 2000
        start = time.perf_counter()
        for i in range(singles):
            model(test_x[i : i + 1]).argmax(1).item()
        infer_b1 = singles / (time.perf_counter() - start)

        start = time.perf_counter()
        for begin in range(0, len(test_x), 1000):
            model(test_x[begin : begin + 1000]).argmax(1).tolist()
        infer_b1000 = len(test_x) / (time.perf_counter() - start)

    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "train_images": len(train_x),
                "train_epoch_s": train_epoch,
                "test_pass_s": test_pass,
                "infer_b1_ips": infer_b1,
                "infer_b1000_ips": infer_b1000,
                "test_error": 100.0 * wrong / len(test_x),
            }
        )
    )


if __name__ == "__main__":
    main()
