#!/usr/bin/env python3
"""A trained model on handwriting that is not MNIST: the UCI "Optical Recognition of Handwritten
Digits" test images as scikit-learn ships them (`sklearn.datasets.load_digits`: 1 797 digits by 43
writers other than MNIST's, 8x8 cells of 0-16 ink counts; Alpaydin and Kaynak, 1998).

Each digit is written as an 8x8 grey PNG (ink count x 255/16) and read by `trainer predict`, which
turns an image of any size into MNIST form (crates/lenet/src/data/image.rs: background found and
inverted if light, cleaned, the digit scaled into 20x20 and centred by its mass in 28x28), exactly
as it would a photo of the reader's own digit. Prints the error rate, the error per class and the
most frequent confusions, and a JSON line last (score.py).

Usage: optdigits.py [TRAINER] [--model M]
  TRAINER: the trainer binary (default target/debug/trainer; `cargo build --bin
  trainer` first); M: any model `--model` reads (default: the shipped model).
Needs scikit-learn, numpy and Pillow (`pip install scikit-learn pillow`).
"""
import argparse
import pathlib
import signal
import sys
import tempfile

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import score  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("trainer", nargs="?", default="target/debug/trainer")
    parser.add_argument("--model")
    args = parser.parse_args()
    digits = load_digits()
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, (cells, label) in enumerate(zip(digits.images, digits.target)):
            path = pathlib.Path(folder) / f"{i:04d}_{label}.png"
            grey = np.round(cells * 255.0 / 16.0).astype(np.uint8)
            Image.fromarray(grey, mode="L").save(path)
            paths.append(path)
        score.score(args.trainer, args.model, paths, "UCI optdigits")


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends it quietly
    main()
