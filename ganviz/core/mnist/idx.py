"""Reader for the IDX files of MNIST-like datasets (LeCun's format), gzip-compressed or raw."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
# IDX type byte -> numpy dtype (multi-byte types are big-endian).
IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DatasetError(ValueError):
    """A dataset that cannot be used; the message says which file and why, in the user's words."""


def read_bytes(path: str | Path) -> bytes:
    """The file's content, gunzipped when it is gzip (by `.gz` suffix or by the gzip magic)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if path.suffix == ".gz" or data[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(f"{path} is not a valid gzip file (corrupt or truncated download?): {exc}") from exc
    return data


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode an IDX buffer: 2 zero bytes, a type byte, a dimension count, big-endian int32 sizes, data."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES or data[3] == 0:
        raise DatasetError(f"{name} is not an IDX file (wrong magic number {data[:4].hex() or 'empty'}; "
                           "expected 0000 08 0N for unsigned-byte data)")
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{name} is truncated: its header is incomplete")
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header < expected:
        raise DatasetError(f"{name} is truncated: the header promises shape {shape} ({expected} bytes of data) "
                           f"but only {len(data) - header} bytes follow")
    # A writable copy: torch refuses to share memory with read-only buffers.
    return np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header).reshape(shape).copy()


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (e.g. train-images-idx3-ubyte[.gz]) as a numpy array of its declared shape."""
    return parse_idx(read_bytes(path), str(path))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write a uint8 array as IDX (gzip when `compress`, or when the name ends in .gz); for tests and tools."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
