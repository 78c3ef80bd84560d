"""Reader for the IDX files of MNIST-like datasets (LeCun's format), gzip-compressed or raw."""

from __future__ import annotations

import gzip
import io
import math
import zlib
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from ganviz.core.oserror import ReadCancelled

GZIP_MAGIC = b"\x1f\x8b"
# IDX type byte -> numpy dtype (multi-byte types are big-endian).
IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DatasetError(ValueError):
    """A dataset that cannot be used; the message says which file and why, in the user's words."""


# The image mode keeps a whole set in memory (and on the training device). 1 GiB is 1.3 million 28×28
# images, more than any MNIST-like set; a header declaring more is refused before anything is read.
MAX_IDX_BYTES = 1 << 30
GZIP_TAIL = 1 << 20  # bytes read past the declared data to reach the gzip trailer (and check its CRC)
CHUNK = 1 << 22      # bytes read at a time: between two chunks a load reports progress and may be cancelled


def read_idx(path: str | Path, progress: Callable[[int, int], None] | None = None,
             cancel=None) -> np.ndarray:
    """Read one IDX file (e.g. train-images-idx3-ubyte[.gz]) as a numpy array of its declared shape.

    Gzip (by `.gz` suffix or by the gzip magic) is decompressed as it is read, straight into the
    array, and never past the size the header declares (at most MAX_IDX_BYTES): a small file that
    expands to gigabytes is refused once it outgrows its header, having cost one array at most.
    `progress(bytes done, bytes declared)` is called between chunks; setting the `cancel` Event stops
    the read there with ReadCancelled."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with f:
        try:
            compressed = path.suffix == ".gz" or f.read(2) == GZIP_MAGIC
            f.seek(0)
            if not compressed:
                return _read_stream(f, str(path), progress=progress, cancel=cancel)
            with gzip.GzipFile(fileobj=f, mode="rb") as stream:
                return _read_stream(stream, str(path), tail=True, progress=progress, cancel=cancel)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise DatasetError(f"{path} is not a valid gzip file (corrupt or truncated download?): {exc}") from exc
        except OSError as exc:
            raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode an IDX buffer: 2 zero bytes, a type byte, a dimension count, big-endian int32 sizes, data."""
    return _read_stream(io.BytesIO(data), name)


def _read_stream(stream: BinaryIO, name: str, tail: bool = False, progress=None, cancel=None) -> np.ndarray:
    """Decode IDX from a file-like object, reading the header, then exactly the data it declares.
    With `tail` (gzip), read on to the end of the stream, which must come within GZIP_TAIL bytes."""
    head = stream.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in IDX_TYPES or head[3] == 0:
        raise DatasetError(f"{name} is not an IDX file (wrong magic number {head.hex() or 'empty'}; "
                           "expected 0000 08 0N for unsigned-byte data)")
    dtype, ndim = IDX_TYPES[head[2]], head[3]
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DatasetError(f"{name} is truncated: its header is incomplete")
    shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(ndim))
    expected = math.prod(shape) * dtype.itemsize  # Python ints: sizes whose product overflows int64 stay exact
    if expected > MAX_IDX_BYTES:
        raise DatasetError(f"{name} declares shape {shape}: {expected:,} bytes of data, more than the "
                           f"{MAX_IDX_BYTES >> 30} GiB the image mode loads (it keeps the whole set in memory)")
    try:
        out = np.empty(shape, dtype=dtype)  # writable: torch refuses to share memory with read-only buffers
    except MemoryError:
        raise DatasetError(f"not enough memory for {name} ({expected:,} bytes)") from None
    got = read_into(stream, memoryview(out.reshape(-1).view(np.uint8)), progress, cancel)
    if got < expected:
        raise DatasetError(f"{name} is truncated: the header promises shape {shape} ({expected} bytes of data) "
                           f"but only {got} bytes follow")
    if tail and len(stream.read(GZIP_TAIL)) == GZIP_TAIL:
        raise DatasetError(f"{name} expands to more than the {expected:,} bytes of data its header declares "
                           f"(shape {shape}); it is not an IDX file of that shape")
    return out


def read_into(stream: BinaryIO, buffer: memoryview, progress: Callable[[int, int], None] | None = None,
              cancel=None) -> int:
    """Fill `buffer` from `stream` CHUNK bytes at a time; the number of bytes read (fewer only at the
    end of the stream). Between chunks: `progress(done, len(buffer))`, and ReadCancelled once the
    `cancel` Event is set."""
    done = 0
    while done < len(buffer):
        if cancel is not None and cancel.is_set():
            raise ReadCancelled(f"stopped after {done:,} of {len(buffer):,} bytes")
        n = stream.readinto(buffer[done:done + CHUNK])
        if not n:
            break
        done += n
        if progress is not None:
            progress(done, len(buffer))
    return done


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write a uint8 array as IDX (gzip when `compress`, or when the name ends in .gz); for tests and tools."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
