"""Reading a user's 2-D point set (the target of a 2-D run) from a .csv or .npy file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

MIN_POINTS = 10  # fewer points is almost certainly the wrong file, not a data set
SUFFIXES = (".csv", ".npy")


def is_points_file(name: str) -> bool:
    """Whether a --dataset value names a point file (by its extension) rather than a built-in target."""
    return name.lower().endswith(SUFFIXES)


def load_points(path: str | Path) -> np.ndarray:
    """The points of `path` as an (N, 2) float64 array.

    .csv: exactly two numeric columns separated by commas or whitespace, with an optional header
    row. .npy: an array of shape (N, 2). Raises ValueError with a message naming the file and the
    problem (missing, unreadable, wrong shape, non-numeric cells, NaN/inf, fewer than MIN_POINTS).
    """
    path = Path(path)
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{name}: unsupported file type {path.suffix or '(none)'!r}; "
                         "use a .csv or .npy file of x, y points")
    if not path.is_file():
        raise ValueError(f"{name}: no such file ({path})")
    try:
        points = _read_npy(path) if suffix == ".npy" else _read_csv(path)
    except OSError as exc:
        raise ValueError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc
    if not np.isfinite(points).all():
        row = int(np.flatnonzero(~np.isfinite(points).all(axis=1))[0])
        raise ValueError(f"{name}: point {row + 1} is NaN or infinite; every coordinate must be a finite number")
    if len(points) < MIN_POINTS:
        raise ValueError(f"{name}: only {len(points)} point(s); a target needs at least {MIN_POINTS}")
    return points


def _read_npy(path: Path) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:  # pickled objects, a truncated or non-NumPy file
        raise ValueError(f"{path.name}: not a readable NumPy array file ({exc})") from exc
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 2:
        shape = getattr(data, "shape", "?")
        raise ValueError(f"{path.name}: expected an array of shape (N, 2), got shape {shape}")
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise ValueError(f"{path.name}: expected real numbers, got dtype {data.dtype}")
    return data.astype(np.float64)


_SPLIT = re.compile(r"[,\s;]+")


def _read_csv(path: Path) -> np.ndarray:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name}: not a text file (cannot decode as UTF-8)") from exc
    rows: list[tuple[float, float]] = []
    first = True
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        is_first, first = first, False
        cells = [c for c in _SPLIT.split(line) if c]
        if len(cells) != 2:
            raise ValueError(f"{path.name}, line {number}: expected 2 columns (x, y), "
                             f"found {len(cells)}: {line[:60]!r}")
        try:
            rows.append((float(cells[0]), float(cells[1])))
        except ValueError:
            if is_first and not _looks_numeric(cells):  # the first row may be a header such as "x,y"
                continue
            raise ValueError(f"{path.name}, line {number}: non-numeric value in {line[:60]!r}") from None
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


def _looks_numeric(cells: list[str]) -> bool:
    """True when any cell parses as a number: then the row is data with a bad cell, not a header."""
    for cell in cells:
        try:
            float(cell)
            return True
        except ValueError:
            pass
    return False
