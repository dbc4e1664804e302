#!/usr/bin/env python3
"""Chooses the margin below which `trainer predict` marks an answer unsure: reads labelled images
through `trainer predict` (as score.py does) and, for margins between the top output and the second
from 0.05 to 0.95, prints the share of misread images flagged and of right answers flagged.

Run it on validation images only (`experiments photos --split validation`); the threshold is then
checked once on test images. A blank answer ("no digit") counts as a misread that is not flagged.

Usage: unsure.py DIR [DIR ...] [--trainer TRAINER] [--model M]
Standard library only.
"""
import argparse
import pathlib
import signal
import subprocess

from score import label_of


def margins(trainer, model, paths):
    """(label, answer, margin) of every file; answer None for a blank image."""
    command = [trainer, "predict"] + (["--model", model] if model else [])
    found = []
    labels = {p.name: label_of(p) for p in paths}
    for start in range(0, len(paths), 500):
        chunk = [str(p) for p in paths[start:start + 500]]
        output = subprocess.run(command + chunk, check=True, capture_output=True, text=True).stdout
        for line in output.splitlines():
            file, rest = line.split(": ", 1)
            name = pathlib.Path(file).name
            if "[" not in rest:
                found.append((labels[name], None, 0.0))
                continue
            outputs = sorted(float(v) for v in rest[rest.index("[") + 1:rest.index("]")].split(","))
            found.append((labels[name], int(rest.split()[0]), outputs[-1] - outputs[-2]))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--trainer", default="target/debug/trainer")
    parser.add_argument("--model")
    args = parser.parse_args()
    found = []
    for folder in args.dirs:
        paths = sorted(p for p in pathlib.Path(folder).iterdir() if p.is_file())
        if not paths:
            raise SystemExit(f"error: no images in {folder}")
        found += margins(args.trainer, args.model, paths)
    wrong = [m for label, answer, m in found if answer is not None and answer != label]
    right = [m for label, answer, m in found if answer == label]
    blank = sum(1 for _, answer, _ in found if answer is None)
    print(f"{len(found)} images: {len(right)} right, {len(wrong)} misread, {blank} blank")
    print("margin below | misreads flagged | right answers flagged")
    for step in range(1, 20):
        threshold = step * 0.05
        flagged_wrong = sum(1 for m in wrong if m < threshold)
        flagged_right = sum(1 for m in right if m < threshold)
        print(f"{threshold:12.2f} | {flagged_wrong:4d} of {len(wrong)} "
              f"({100.0 * flagged_wrong / max(len(wrong), 1):5.1f} %) | "
              f"{flagged_right:5d} of {len(right)} ({100.0 * flagged_right / max(len(right), 1):5.2f} %)")


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
