"""The history of a run's metrics: bounded in-memory columns for plots, and a CSV that is
written row by row so that everything measured survives an interrupted run."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import IO

import numpy as np


class MetricsLog:
    """Columns of float64 with preallocated storage. With `max_rows`, when full it keeps every
    other row (halving the time resolution) so a long session stays cheap to copy and draw."""

    def __init__(self, columns: tuple[str, ...] | list[str], max_rows: int | None = None, capacity: int = 1024):
        self.columns = tuple(columns)
        self.max_rows = max_rows
        self._data = np.full((capacity, len(self.columns)), np.nan)
        self._n = 0
        self._index = {name: i for i, name in enumerate(self.columns)}

    def __len__(self) -> int:
        return self._n

    def append(self, row: dict[str, float]) -> None:
        if self.max_rows is not None and self._n >= self.max_rows:
            keep = self._data[: self._n : 2].copy()
            self._n = len(keep)
            self._data[: self._n] = keep
            self._data[self._n :] = np.nan
        if self._n == len(self._data):
            grown = np.full((2 * len(self._data), len(self.columns)), np.nan)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        target = self._data[self._n]
        for name, value in row.items():
            i = self._index.get(name)
            if i is not None:
                target[i] = np.nan if value is None else value
        self._n += 1

    def column(self, name: str) -> np.ndarray:
        """A read-only view of one column (valid until the next append)."""
        view = self._data[: self._n, self._index[name]]
        view.flags.writeable = False
        return view

    def copy(self) -> dict[str, np.ndarray]:
        """Independent copies of every column, safe to hand to another thread."""
        block = self._data[: self._n].copy()
        return {name: block[:, i] for name, i in self._index.items()}

    def last(self) -> dict[str, float]:
        if not self._n:
            return {}
        return {name: float(self._data[self._n - 1, i]) for name, i in self._index.items()}


class CsvWriter:
    """metrics.csv: a header row, then one row per measurement, flushed as it is written."""

    def __init__(self, path: str | Path, columns: tuple[str, ...] | list[str]):
        self.columns = tuple(columns)
        self._file: IO[str] = open(path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(self.columns)
        self._file.flush()

    def write(self, row: dict[str, float]) -> None:
        self._writer.writerow([_cell(row.get(name)) for name in self.columns])
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "CsvWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cell(value) -> str:
    """Integers as integers, floats with full precision, missing values (and NaN) as empty cells."""
    if value is None:
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return ""
    return repr(value)
