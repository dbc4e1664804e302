#!/usr/bin/env python3
"""Trains the paper's improved LeNet-5 in PyTorch, the way lenet-burn does, and writes the fixture
that lenet-burn's tests load into the burn model:

- lenet_pytorch.pt: the state dict (torch.save), tensor names c1.*, c3.*, fc.* as in lenet-burn;
- predictions.json: the class and the 10 output activations on the first 100 MNIST test images.

Same network (C1 5x5x6, 2x2 mean, C3 5x5x12 seeing all maps, 2x2 mean, FC 192->10, sigmoid
everywhere), same initialisation (uniform in +-sqrt(6/(fan_in+fan_out)), biases zero), same
objective (1/m sum 1/2 ||t - y||^2), plain SGD, lr 1, batch 50, 2 epochs over full MNIST.

Usage: python3 experiments/pytorch/train_lenet.py [MNIST_DIR]   (default ../shared/data/mnist)
Needs torch (2.5.1 was used) and numpy.
"""
import gzip
import json
import math
import pathlib
import sys

import numpy as np
import torch
from torch import nn

HERE = pathlib.Path(__file__).parent


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


def scale_weights(model, gain):
    """Multiplies every weight (not the biases) by `gain`: 4 is lenet-burn's `--init logistic`."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("weight"):
                parameter.mul_(gain)


def sgd_step(model, optimizer, x, labels):
    """One plain SGD step on the objective 1/m sum 1/2 ||t - y||^2; returns the objective."""
    t = nn.functional.one_hot(labels, 10).float()
    loss = 0.5 * ((t - model(x)) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def test_error(model, test_x, test_y):
    """The share of `test_x` the network misreads, %."""
    with torch.no_grad():
        return 100.0 * (model(test_x).argmax(1) != test_y).float().mean().item()


def train_epoch(model, optimizer, train_x, train_y, batch_size=50):
    """One shuffled pass of plain SGD on the objective 1/m sum 1/2 ||t - y||^2."""
    order = torch.randperm(len(train_x))
    for start in range(0, len(train_x), batch_size):
        batch = order[start:start + batch_size]
        sgd_step(model, optimizer, train_x[batch], train_y[batch])


def main():
    mnist = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mnist")
    torch.manual_seed(42)
    train_x, train_y = load(mnist, "train")
    test_x, test_y = load(mnist, "t10k")
    model = LeNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    for epoch in range(2):
        train_epoch(model, optimizer, train_x, train_y)
        print(f"epoch {epoch + 1}: test error {test_error(model, test_x, test_y):.2f}%")

    torch.save(model.state_dict(), HERE / "lenet_pytorch.pt")
    with torch.no_grad():
        outputs = model(test_x[:100])
    predictions = {
        "images": "the first 100 images of t10k-images-idx3-ubyte, pixels / 255",
        "classes": outputs.argmax(1).tolist(),
        "outputs": outputs.tolist(),
    }
    (HERE / "predictions.json").write_text(json.dumps(predictions, indent=1) + "\n")
    print(f"wrote {HERE / 'lenet_pytorch.pt'} and {HERE / 'predictions.json'}")


if __name__ == "__main__":
    main()
