#!/usr/bin/env python3
"""A trained model on handwriting that is not MNIST: the UCI "Optical Recognition of Handwritten
Digits" test images as scikit-learn ships them (`sklearn.datasets.load_digits`: 1 797 digits by 43
writers other than MNIST's, 8x8 cells of 0-16 ink counts; Alpaydin and Kaynak, 1998).

Each digit is written as an 8x8 grey PNG (ink count x 255/16) and read by `trainer predict`, which
turns an image of any size into MNIST form (crates/lenet/src/data/image.rs: background found and
inverted if light, the digit scaled into 20x20 and centred by its mass in 28x28), exactly as it
would a photo of the reader's own digit. Prints the error rate, the error per class and the most
frequent confusions, and a JSON line last.

Usage: optdigits.py [TRAINER] [--model M]
  TRAINER: the trainer binary (default target/release/trainer; `cargo build --release --bin
  trainer` first); M: any model `--model` reads (default: the shipped model).
Needs scikit-learn, numpy and Pillow (`pip install scikit-learn pillow`).
"""
import argparse
import collections
import json
import pathlib
import subprocess
import tempfile

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("trainer", nargs="?", default="target/release/trainer")
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
        command = [args.trainer, "predict"] + (["--model", args.model] if args.model else [])
        output = subprocess.run(command + [str(p) for p in paths], check=True,
                                capture_output=True, text=True).stdout
    predicted = {}
    for line in output.splitlines():
        name, rest = line.split(": ", 1)
        predicted[pathlib.Path(name).name] = int(rest.split()[0])
    labels = {p.name: int(p.stem.split("_")[1]) for p in paths}
    wrong = [(labels[n], predicted[n]) for n in labels if predicted[n] != labels[n]]
    error = 100.0 * len(wrong) / len(labels)
    print(f"{args.model or 'the shipped model'}: {len(wrong)} of {len(labels)} UCI optdigits "
          f"misread, {error:.2f} % error")
    per_class = collections.Counter(t for t, _ in wrong)
    totals = collections.Counter(labels.values())
    print("error per class: " + ", ".join(
        f"{c}: {100.0 * per_class[c] / totals[c]:.1f} %" for c in range(10)))
    print("most frequent confusions (true -> read): " + ", ".join(
        f"{t}->{p} x{n}" for (t, p), n in collections.Counter(wrong).most_common(5)))
    print(json.dumps({"model": args.model or "shipped", "images": len(labels),
                      "errors": len(wrong), "error_percent": error}))


if __name__ == "__main__":
    main()
