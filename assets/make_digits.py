#!/usr/bin/env python3
"""Writes assets/digits/N.png: the first test image of each class from MNIST, as a dark digit on a
light 56x56 page (the way a scan looks), so `trainer predict` can be tried on a fresh clone.

The first 3 (test image 18) is one that the shipped model, through `trainer predict`, reads as an 8,
so the sample 3 is the next one, test image 30.

Usage: python3 assets/make_digits.py [MNIST_DIR]   (default: ../shared/data/mnist)
Standard library only: the PNG is written by hand (8-bit greyscale, one IDAT chunk).
"""
import gzip
import pathlib
import struct
import sys
import zlib

SCALE = 2
# Class -> test image, where the first image of the class is one the shipped model gets wrong.
OVERRIDES = {3: 30}


def png(width, height, rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main():
    mnist = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mnist")
    images = gzip.open(mnist / "t10k-images-idx3-ubyte.gz").read()[16:]
    labels = gzip.open(mnist / "t10k-labels-idx1-ubyte.gz").read()[8:]
    out = pathlib.Path(__file__).parent / "digits"
    out.mkdir(exist_ok=True)
    for digit in range(10):
        index = OVERRIDES.get(digit, labels.index(digit))
        assert labels[index] == digit
        pixels = images[index * 784:(index + 1) * 784]
        rows = [
            [255 - pixels[(y // SCALE) * 28 + x // SCALE] for x in range(28 * SCALE)]
            for y in range(28 * SCALE)
        ]
        (out / f"{digit}.png").write_bytes(png(28 * SCALE, 28 * SCALE, rows))
        print(f"assets/digits/{digit}.png: MNIST test image {index}")


if __name__ == "__main__":
    main()
