"""Reading a user's point set (the target of a 1-D or 2-D run) from a .csv or .npy file, and the
standardisation that lets it train at any scale and offset."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ganviz.core.oserror import ReadCancelled

MIN_POINTS = 10  # fewer points is almost certainly the wrong file, not a data set
MAX_POINTS = 10_000_000  # P_data keeps one Gaussian per point; more is a file to subsample, not to load whole
# Training happens in standardised coordinates (Standardisation), so the data's own scale and offset
# do not matter to float32. Values beyond float32's range (±3.4e38) are refused all the same: in a
# file of measurements they are sentinels or unit errors, and the plane (Qt) cannot draw them.
MAX_ABS = 3.4e38
# A column whose spread is below this share of its magnitude has (almost) no spread: float64 holds
# ~16 digits, so it has fewer than ~10⁴ distinct values between its extremes, or none.
MIN_RELATIVE_SPREAD = 1e-12
SUFFIXES = (".csv", ".npy")
PROGRESS_LINES = 65536  # a CSV's progress is reported (and a cancel looked at) every this many lines


@dataclass(frozen=True)
class PointSet:
    """A file's points in the data's own units, and the header's column names (None without a header)."""

    points: np.ndarray            # (N, columns) float64
    names: tuple[str, ...] | None


@dataclass(frozen=True)
class Standardisation:
    """The affine map x ↦ (x − mean) / scale, per axis, that puts a point set at unit scale for
    training; `to_data` is its inverse, applied to everything shown, exported and measured.
    Computed in float64, so 1e9 ± 2.5 keeps its 9 digits of spread (float32 would round it to steps of 64)."""

    mean: np.ndarray   # (d,)
    scale: np.ndarray  # (d,), > 0

    @classmethod
    def of(cls, points: np.ndarray, isotropic: bool = False) -> "Standardisation":
        """Mean and standard deviation per axis; with `isotropic`, one common scale (the largest
        extent, 1 when the points coincide), which keeps circles circles (drawn strokes)."""
        points = np.asarray(points, dtype=np.float64)
        mean = points.mean(axis=0)
        if isotropic:
            extent = float(np.ptp(points, axis=0).max())
            magnitude = float(np.abs(points).max())
            # coincident points: a unit scale, but never finer than float64 resolves at their magnitude
            common = extent if extent > 1e-9 * max(magnitude, 1e-300) else max(1.0, 1e-9 * magnitude)
            return cls(mean, np.full(points.shape[1], common))
        return cls(mean, points.std(axis=0))

    def to_standard(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale

    def to_data(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) * self.scale + self.mean

    def vectors_to_data(self, v: np.ndarray) -> np.ndarray:
        """Displacements (e.g. the G-loss arrows) from standardised to data units: scaled, not shifted."""
        return np.asarray(v, dtype=np.float64) * self.scale


def column_name(names: tuple[str, ...] | None, i: int, columns: int) -> str:
    """Column i's name: the header's, else x1, x2 (or x for a single column)."""
    if names is not None:
        return names[i]
    return "x" if columns == 1 else f"x{i + 1}"


def spread_problem(name: str, points: np.ndarray, names: tuple[str, ...] | None = None) -> str | None:
    """Why `points` cannot be standardised (a column with no spread), or None."""
    points = np.asarray(points, dtype=np.float64)
    columns = points.shape[1]
    for i in range(columns):
        col = points[:, i]
        std = float(col.std())
        if not std > MIN_RELATIVE_SPREAD * float(np.abs(col).max()):
            what = f"column {i + 1} ({column_name(names, i, columns)})" if columns > 1 else "the data"
            return (f"{name}: {what} has no spread (every value is {float(col[0]):.12g}"
                    + (" to 12 digits" if std > 0 else "") + "); a density needs spread along every axis")
    return None


def is_points_file(name: str) -> bool:
    """Whether a --dataset value names a point file (by its extension) rather than a built-in target."""
    return name.lower().endswith(SUFFIXES)


def load_points(path: str | Path, columns: int = 2) -> np.ndarray:
    """The points of `path` as an (N, columns) float64 array (see read_point_set)."""
    return read_point_set(path, columns).points


def read_point_set(path: str | Path, columns: int = 2, progress: Callable[[int, int], None] | None = None,
                   cancel: threading.Event | None = None) -> PointSet:
    """The points of `path` as an (N, columns) float64 array (columns 2: x, y points; 1: samples on
    the line, which `ganviz measure --mode 1d` reads; a .npy may then also have shape (N,)).

    .csv: exactly two numeric columns separated by commas or whitespace, with an optional header
    row; numbers as in CSV files (digits, a point, an exponent; no Python-only forms such as
    `1_000`). .npy: an integer or floating array of shape (N, 2). Raises ValueError with a message
    naming the file and the problem (missing, unreadable, wrong shape or type, non-numeric cells,
    NaN/inf, coordinates beyond ±MAX_ABS, fewer than MIN_POINTS or more than MAX_POINTS).
    The header's cells become the column names.

    `progress(characters done, characters)` is called as a CSV is parsed; setting `cancel` stops the parse
    there with ReadCancelled. The last file read is kept while it is unchanged on disk (its size,
    time and inode), so that the window, which reads it off the UI thread to check it, and the task
    built from it next parse it once (a 10⁶-row CSV takes seconds).
    """
    path = Path(path)
    key = _file_key(path, columns)
    with _LAST_READ_LOCK:
        if key is not None and _LAST_READ and _LAST_READ[0] == key:
            return _LAST_READ[1]
    data = _read_point_set(path, columns, progress, cancel)
    with _LAST_READ_LOCK:
        _LAST_READ[:] = [key, data] if key is not None else []
    return data


_LAST_READ: list = []  # [key, PointSet] of the last file read (read_point_set)
_LAST_READ_LOCK = threading.Lock()


def _file_key(path: Path, columns: int) -> tuple | None:
    """What identifies a file's contents without reading it: its real path, size, modification time and inode."""
    try:
        st = os.stat(path)
        return (os.path.realpath(path), columns, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
    except OSError:
        return None


def _read_point_set(path: Path, columns: int, progress: Callable[[int, int], None] | None,
                    cancel: threading.Event | None) -> PointSet:
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{name}: unsupported file type {path.suffix or '(none)'!r}; "
                         "use a .csv or .npy file of x, y points")
    if not path.is_file():
        raise ValueError(f"{name}: no such file ({path})")
    try:
        points, names = (_read_npy(path, columns), None) if suffix == ".npy" else \
            _read_csv(path, columns, progress, cancel)
    except OSError as exc:
        raise ValueError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc
    if not np.isfinite(points).all():
        row = int(np.flatnonzero(~np.isfinite(points).all(axis=1))[0])
        raise ValueError(f"{name}: point {row + 1} is NaN or infinite; every coordinate must be a finite number")
    if len(points) < MIN_POINTS:
        raise ValueError(f"{name}: only {len(points)} point(s); a target needs at least {MIN_POINTS}")
    too_far = np.abs(points) > MAX_ABS
    if too_far.any():
        row = int(np.flatnonzero(too_far.any(axis=1))[0])
        value = float(points[row][too_far[row]][0])
        raise ValueError(f"{name}: point {row + 1} has the coordinate {value:.3g}, beyond float32's range "
                         f"(±{MAX_ABS:.2g}); rescale the data")
    return PointSet(points, names)


def _read_npy(path: Path, columns: int = 2) -> np.ndarray:
    # The header is checked before anything is allocated: np.load would first reserve what a
    # 200-byte file claims (e.g. shape (1e11, 2), 1.5 TiB) and only then find the data missing.
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
            data_start = f.tell()
    except ValueError as exc:  # not a .npy file, a damaged header
        raise ValueError(f"{path.name}: not a readable NumPy array file ({exc})") from exc
    if columns == 1 and len(shape) == 1:
        shape = (shape[0], 1)
    if len(shape) != 2 or shape[1] != columns:
        raise ValueError(f"{path.name}: expected an array of shape (N, {columns}), got shape {shape}")
    if dtype.kind not in "iuf":  # timedelta64 counts as an integer to NumPy, but is not a coordinate
        raise ValueError(f"{path.name}: expected real numbers, got dtype {dtype}")
    if shape[0] > MAX_POINTS:
        raise ValueError(f"{path.name}: {shape[0]:,} points, more than the {MAX_POINTS:,} a target can hold; "
                         "subsample the set")
    declared = shape[0] * columns * dtype.itemsize
    present = path.stat().st_size - data_start
    if present < declared:
        raise ValueError(f"{path.name}: truncated: its header declares {shape[0]:,} points ({declared:,} bytes) "
                         f"but {max(present, 0):,} bytes follow")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:  # pickled objects, a damaged file
        raise ValueError(f"{path.name}: not a readable NumPy array file ({exc})") from exc
    return data.astype(np.float64).reshape(-1, columns)


_SPLIT = re.compile(r"[,\s;]+")
# A number as CSV files write them; Python's float() also takes "1_000" and non-ASCII digits.
# nan and inf are let through so that the check for them can name the point.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)",
                     re.IGNORECASE)


def _number(cell: str) -> float:
    if not _NUMBER.fullmatch(cell):
        raise ValueError(cell)
    return float(cell)


def _read_csv(path: Path, columns: int = 2, progress: Callable[[int, int], None] | None = None,
              cancel: threading.Event | None = None) -> tuple[np.ndarray, tuple[str, ...] | None]:
    # Parsed in steps of PROGRESS_LINES lines that each hold Python's lock only briefly (split into
    # lines block by block, rows turned into an array chunk by chunk): read on a background thread,
    # a 10⁶-row file then never stalls the window's UI thread for more than a few milliseconds.
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name}: not a text file (cannot decode as UTF-8)") from exc
    parts: list[np.ndarray] = []  # the rows so far, `kept` of them, as arrays
    kept = 0
    rows: list[tuple[float, ...]] = []
    header: tuple[str, ...] | None = None
    first = True
    for number, (line, done) in enumerate(_lines(text), start=1):
        if number % PROGRESS_LINES == 0:
            if cancel is not None and cancel.is_set():
                raise ReadCancelled(f"{path.name}: reading cancelled")
            if progress is not None:
                progress(done, len(text))
            if rows:
                parts.append(np.array(rows, dtype=np.float64).reshape(-1, columns))
                kept, rows = kept + len(rows), []
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        is_first, first = first, False
        cells = [c for c in _SPLIT.split(line) if c]
        if len(cells) != columns:
            what = "2 columns (x, y)" if columns == 2 else f"{columns} column(s)"
            raise ValueError(f"{path.name}, line {number}: expected {what}, "
                             f"found {len(cells)}: {line[:60]!r}")
        try:
            rows.append(tuple(_number(c) for c in cells))
        except ValueError:
            if is_first and not _looks_numeric(cells):  # the first row may be a header such as "x,y"
                header = tuple(c.strip('"\'') for c in cells)
                continue
            raise ValueError(f"{path.name}, line {number}: non-numeric value in {line[:60]!r}") from None
        if kept + len(rows) > MAX_POINTS:
            raise ValueError(f"{path.name}: more than the {MAX_POINTS:,} points a target can hold; subsample the set")
    parts.append(np.array(rows, dtype=np.float64).reshape(-1, columns))
    if progress is not None:
        progress(len(text), len(text))
    return np.concatenate(parts), header


def _lines(text: str, block: int = 1 << 20):
    """(line, characters read so far) of `text`, the lines of str.splitlines, split a block of about
    `block` characters at a time (each block ends after a newline, where splitlines always breaks)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + block)
        end = len(text) if end < 0 else end + 1
        for line in text[start:end].splitlines():
            yield line, end
        start = end


def _looks_numeric(cells: list[str]) -> bool:
    """True when any cell parses as a number (Python's lenient syntax included, so that `1_0,2_0`
    is a bad data row rather than a header): then the row is data with a bad cell, not a header."""
    for cell in cells:
        try:
            float(cell)
            return True
        except ValueError:
            pass
    return False


def energy_distance(x: np.ndarray, y: np.ndarray, chunk: int = 2048) -> float:
    """The (squared) energy distance 2·E|X − Y| − E|X − X′| − E|Y − Y′| between two point sets
    (Székely & Rizzo): 0 exactly when the distributions are equal, and every term an unbiased
    mean (X′ ≠ X: the within-set means leave out each point's distance to itself). Euclidean
    distances, float64, in chunks (memory O(chunk · len))."""
    import torch

    def mean_distance(a: np.ndarray, b: np.ndarray, same: bool) -> float:
        ta, tb = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
        total = sum(float(torch.cdist(ta[i:i + chunk], tb).sum()) for i in range(0, len(ta), chunk))
        pairs = len(a) * (len(b) - 1) if same else len(a) * len(b)
        return total / pairs  # the diagonal of a set with itself is 0, so leaving it out is the divisor

    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if len(x) < 2 or len(y) < 2:
        raise ValueError("the energy distance needs at least 2 points in each set")
    return 2 * mean_distance(x, y, False) - mean_distance(x, x, True) - mean_distance(y, y, True)
