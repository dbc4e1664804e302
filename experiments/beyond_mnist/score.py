#!/usr/bin/env python3
"""Reads labelled image files through `trainer predict`, as a user's own files would go, and prints
the error rate, the error per class and the most frequent confusions, then a JSON line.

A file's label is the last part of its name after "_" (`00042_7.jpg` is a 7), as
`experiments photos` and optdigits.py name them.

Usage: score.py DIR [--trainer TRAINER] [--model M]
  DIR: a folder of labelled images; TRAINER: the trainer binary (default target/debug/trainer);
  M: any model `--model` reads (default: the shipped model).
Standard library only.
"""
import argparse
import collections
import json
import pathlib
import signal
import subprocess


def label_of(path):
    return int(pathlib.Path(path).stem.rsplit("_", 1)[1])


def score(trainer, model, paths, name):
    """Runs `trainer predict` on `paths`, prints the figures and returns them as a dict."""
    command = [trainer, "predict"] + (["--model", model] if model else [])
    predicted = {}
    # A few hundred files a call: command lines stay short.
    for start in range(0, len(paths), 500):
        chunk = [str(p) for p in paths[start:start + 500]]
        output = subprocess.run(command + chunk, check=True, capture_output=True, text=True).stdout
        for line in output.splitlines():
            file, rest = line.split(": ", 1)
            word = rest.split()[0]
            # "no digit: ..." for an image the program finds blank: an error like any other.
            predicted[pathlib.Path(file).name] = int(word) if word.isdigit() else None
    labels = {pathlib.Path(p).name: label_of(p) for p in paths}
    wrong = [(labels[n], predicted.get(n)) for n in labels if predicted.get(n) != labels[n]]
    error = 100.0 * len(wrong) / len(labels)
    print(f"{model or 'the shipped model'}: {len(wrong)} of {len(labels)} {name} misread, "
          f"{error:.2f} % error")
    per_class = collections.Counter(t for t, _ in wrong)
    totals = collections.Counter(labels.values())
    print("error per class: " + ", ".join(
        f"{c}: {100.0 * per_class[c] / totals[c]:.1f} %" for c in range(10) if totals[c]))
    read_as = lambda p: "blank" if p is None else p
    print("most frequent confusions (true -> read): " + ", ".join(
        f"{t}->{read_as(p)} x{n}" for (t, p), n in collections.Counter(wrong).most_common(6)))
    result = {"model": model or "shipped", "set": name, "images": len(labels),
              "errors": len(wrong), "error_percent": error,
              "error_per_class": {c: 100.0 * per_class[c] / totals[c] for c in range(10) if totals[c]}}
    print(json.dumps(result))
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--trainer", default="target/debug/trainer")
    parser.add_argument("--model")
    args = parser.parse_args()
    paths = sorted(p for p in pathlib.Path(args.dir).iterdir() if p.is_file())
    if not paths:
        raise SystemExit(f"error: no images in {args.dir}")
    score(args.trainer, args.model, paths, pathlib.Path(args.dir).name)


if __name__ == "__main__":
    # `| head` ends the script quietly, as it ends the trainer.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
