#!/usr/bin/env python3
"""The PyTorch side of compare.sh: the network of experiments/pytorch/train_lenet.py (the same
improved LeNet-5, initialisation, objective 1/m sum 1/2 ||t - y||^2 and plain SGD), timed the way
`trainer bench` times ours, on the same MNIST files and the same number of threads.

Prints one JSON object:
  train_epoch_s   one pass over the 60k training images, batch 50, SGD lr 1 (shuffled, as ours)
  train_epoch_b10_s  the same at batch 10, a fresh network
  test_pass_s     the 10k test images at batch 1000, no gradients
  infer_b1_ips    images/s classifying one image at a time (no gradients)
  infer_b1000_ips images/s classifying batches of 1000 (no gradients)
  test_error      test error % after the epoch (a sanity check: ours is ~11 % after one epoch)

Usage: bench_pytorch.py MNIST_DIR THREADS [--train-images N]
"""
import argparse
import json
import pathlib
import sys
import time

import torch

# The network and the loader are train_lenet.py's, so the benchmark times that very network.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "pytorch"))
from train_lenet import LeNet, load, train_epoch  # noqa: E402


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

    def epoch(batch_size):
        """A fresh network trained one epoch; returns it and the seconds the epoch took."""
        model = LeNet()
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        start = time.perf_counter()
        train_epoch(model, optimizer, train_x, train_y, batch_size)
        return model, time.perf_counter() - start

    _, epoch_b10_s = epoch(10)
    model, epoch_s = epoch(50)

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
                "train_epoch_s": epoch_s,
                "train_epoch_b10_s": epoch_b10_s,
                "test_pass_s": test_pass,
                "infer_b1_ips": infer_b1,
                "infer_b1000_ips": infer_b1000,
                "test_error": 100.0 * wrong / len(test_x),
            }
        )
    )


if __name__ == "__main__":
    main()
