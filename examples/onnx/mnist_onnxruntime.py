#!/usr/bin/env python3
"""Runs an ONNX model exported by `trainer export --format onnx` in onnxruntime on the 10 000
MNIST test images, from their raw pixels (the graph holds the model's own preprocessing), and
prints its test error.

    python3 examples/onnx/mnist_onnxruntime.py lenet.onnx ../shared/data/mnist

With --predictions FILE it writes one line per test image: the predicted digit, then the ten
outputs. Needs numpy and onnxruntime (pip install onnxruntime); with the `onnx` package
installed it also runs ONNX's own model checker first.
"""
import argparse
import gzip
import pathlib
import sys

import numpy as np
import onnxruntime


def idx(path):
    """An IDX file (gzip-compressed or not) as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(folder, name):
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_file():
            return candidate
    sys.exit(f"error: {name}(.gz) not found in {folder}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=pathlib.Path)
    parser.add_argument("mnist", type=pathlib.Path, help="folder with t10k-images-idx3-ubyte(.gz)")
    parser.add_argument("--predictions", type=pathlib.Path)
    args = parser.parse_args()

    try:
        import onnx

        onnx.checker.check_model(onnx.load(args.model), full_check=True)
        print(f"onnx {onnx.__version__}: the model passes onnx.checker (full check)")
    except ImportError:
        pass

    images = idx(find(args.mnist, "t10k-images-idx3-ubyte"))
    labels = idx(find(args.mnist, "t10k-labels-idx1-ubyte"))
    session = onnxruntime.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    print(f"onnxruntime {onnxruntime.__version__}: {meta.get('network', '?')}")
    print(f"preprocessing: {meta.get('preprocessing', '?')}")

    # The input convention (metadata `input`): float32 [N, 1, 28, 28], grey levels / 255.
    x = images.astype(np.float32)[:, None, :, :] / np.float32(255)
    outputs = np.concatenate(
        [session.run(["outputs"], {"image": x[i : i + 1000]})[0] for i in range(0, len(x), 1000)]
    )
    predicted = outputs.argmax(axis=1)
    mistakes = int((predicted != labels).sum())
    print(f"test error: {100 * mistakes / len(labels):.2f} % ({mistakes} of {len(labels)} images)")
    if args.predictions:
        with open(args.predictions, "w") as f:
            for digit, row in zip(predicted, outputs):
                f.write(f"{digit} " + " ".join(f"{v:.9g}" for v in row) + "\n")


if __name__ == "__main__":
    main()
