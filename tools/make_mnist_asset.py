"""Convert the 5,000-image MNIST CSV subset (784 pixels + label per row) into assets/mnist_5k.npz.

Usage: python tools/make_mnist_asset.py PATH/TO/mnist_5k.csv.gz [--out assets/mnist_5k.npz]
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

SIDE = 28


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if rows.ndim != 2 or rows.shape[1] != SIDE * SIDE + 1:
        raise SystemExit(f"{path}: expected {SIDE * SIDE + 1} columns (pixels, then the label), got {rows.shape}")
    pixels, labels = rows[:, :-1], rows[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise SystemExit(f"{path}: pixels must be 0-255 and labels 0-9")
    return pixels.reshape(-1, SIDE, SIDE).astype(np.uint8), labels.astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "mnist_5k.npz")
    args = parser.parse_args(argv)
    images, labels = read_csv(args.csv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images, labels=labels)
    counts = np.bincount(labels, minlength=10)
    print(f"wrote {args.out}: {len(images)} images, label counts {counts.tolist()}, "
          f"{args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
