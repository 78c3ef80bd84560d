"""Download MNIST's training split into the cache, verified against the published checksums."""

from __future__ import annotations

import atexit
import hashlib
import os
import socket
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ganviz.core.mnist.data import mnist_cache_dir

# Mirrors tried in order; LeCun's own site often refuses scripted downloads, so it comes last.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# The training split only (the test split is not P_data); MD5s as published with torchvision's MNIST.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
}
MNIST_SIZES = {"train-images-idx3-ubyte.gz": 9912422, "train-labels-idx1-ubyte.gz": 28881}
CHUNK = 1 << 16

ProgressCallback = Callable[[int, int], None]

# The temporary files being written now, and the cancel Event of each download. A download thread
# the app leaves running at exit is stopped by the interpreter without running its `finally`; the
# exit hook below cancels it and removes its .part file, so none outlives the process.
_PARTS: dict[Path, threading.Event | None] = {}
_PARTS_LOCK = threading.Lock()
# The socket each download with a cancel Event is reading from: `abort` shuts it down, so a read
# waiting on a stalled server returns at once instead of after the timeout.
_SOCKETS: dict[int, object] = {}


def abort(cancel: threading.Event) -> None:
    """Cancel the download of `cancel` now, even while it waits for data: set the Event and shut its
    connection down (the download then ends with DownloadCancelled, its .part removed)."""
    cancel.set()
    with _PARTS_LOCK:
        sock = _SOCKETS.get(id(cancel))
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


class DownloadError(RuntimeError):
    """The files could not be fetched from any mirror, or did not match their checksums."""


class DownloadCancelled(DownloadError):
    """The user cancelled; nothing partial was left behind."""


class DestinationError(DownloadError):
    """The destination folder cannot be written (read-only, full): no other mirror can help."""


def file_digest(path: str | Path, checksum: str) -> str:
    """Hex digest of `path` with the algorithm `checksum` implies: 32 hex digits MD5, 64 SHA-256."""
    algorithm = "md5" if len(checksum) == 32 else "sha256"
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_mnist(dest_dir: str | Path | None = None, progress_cb: ProgressCallback | None = None,
                   base_url: str | Sequence[str] | None = None, files: Mapping[str, str] | None = None,
                   cancel: threading.Event | None = None, timeout: float = 30.0) -> Path:
    """Fetch `files` (name → MD5 or SHA-256 hex) from the first mirror in `base_url` (default:
    MNIST_MIRRORS) that serves them into `dest_dir` (default: the MNIST cache folder) and return
    that folder.

    Each file is streamed into a temporary file beside its destination and renamed only once its
    checksum matches, so an interrupted, cancelled or corrupt download leaves no file behind: the
    temporary file is removed on every way out (KeyboardInterrupt and SystemExit included, so a
    SIGTERM handler that raises is enough), and at interpreter exit for a download thread still
    running. Files already present with the right checksum are kept. `progress_cb(done, total)`
    reports bytes over all files (total is 0 while unknown); setting `cancel` (from any thread)
    stops at the next chunk with DownloadCancelled. Other failures, an unwritable `dest_dir`
    included, raise DownloadError naming the reason (each mirror's, for network trouble)."""
    dest = Path(dest_dir).expanduser() if dest_dir is not None else mnist_cache_dir()
    files = dict(MNIST_FILES if files is None else files)
    base_url = MNIST_MIRRORS if base_url is None else base_url
    mirrors = [base_url] if isinstance(base_url, str) else list(base_url)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {dest}: {exc.strerror or exc}") from exc
    todo = {name: checksum for name, checksum in files.items() if not _verified(dest / name, checksum)}
    sizes = {name: MNIST_SIZES.get(name, 0) for name in todo}
    done_before = 0  # bytes of files already finished in this call
    for name, checksum in todo.items():
        reasons = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name

            def report(done: int, size: int, name=name) -> None:
                if size:
                    sizes[name] = size
                if progress_cb is not None:
                    total = sum(sizes.values()) if all(sizes.values()) else 0
                    progress_cb(done_before + done, total)

            try:
                _fetch(url, dest / name, checksum.lower(), report, cancel, timeout)
                break
            except (DownloadCancelled, DestinationError):
                raise
            except DownloadError as exc:
                reasons.append(f"{url}: {exc}")
        else:
            raise DownloadError(f"could not download {name} ({'; '.join(reasons)})")
        done_before += (dest / name).stat().st_size
    return dest


def _verified(path: Path, checksum: str) -> bool:
    """Whether `path` is already there with the right checksum (an unreadable file is not)."""
    try:
        return path.is_file() and file_digest(path, checksum) == checksum.lower()
    except OSError:
        return False


def _fetch(url: str, target: Path, checksum: str, report: ProgressCallback,
           cancel: threading.Event | None, timeout: float) -> None:
    """Stream `url` into a temporary file next to `target`; rename it there only if the checksum matches."""
    # Created and registered under one lock, so the exit hook (which takes it) never sees a .part
    # on disk that it does not know about.
    with _PARTS_LOCK:
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        except OSError as exc:  # a read-only or full folder: no mirror can help
            raise DestinationError(f"cannot write into {target.parent}: {exc.strerror or exc}") from exc
        tmp = Path(tmp_name)
        _PARTS[tmp] = cancel
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "ganviz"})
        try:
            # Unbuffered, so that a full disk shows in the write of its chunk, not as a broken connection.
            with os.fdopen(fd, "wb", buffering=0) as out, urllib.request.urlopen(request, timeout=timeout) as response:
                if cancel is not None:  # http.client keeps it at response.fp.raw._sock (CPython 3.x)
                    with _PARTS_LOCK:
                        _SOCKETS[id(cancel)] = getattr(getattr(response.fp, "raw", None), "_sock", None)
                size = int(response.headers.get("Content-Length") or 0)
                done = 0
                report(0, size)
                while True:
                    if cancel is not None and cancel.is_set():
                        raise DownloadCancelled("download cancelled")
                    block = response.read(CHUNK)
                    if cancel is not None and cancel.is_set():  # `abort` may have ended the read
                        raise DownloadCancelled("download cancelled")
                    if not block:
                        break
                    try:
                        view = memoryview(block)
                        while view:
                            view = view[out.write(view):]
                    except OSError as exc:  # the disk, not the connection
                        raise DestinationError(f"cannot write into {target.parent}: {exc.strerror or exc}") from exc
                    done += len(block)
                    report(done, size)
        except DownloadError:
            raise
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            raise DownloadError(f"cannot connect ({exc.reason})") from exc
        except (OSError, ValueError) as exc:  # includes http.client.IncompleteRead, timeouts, resets
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled("download cancelled") from None
            raise DownloadError(f"the connection broke off ({type(exc).__name__}: {exc})") from exc
        if size and done != size:
            raise DownloadError(f"the connection broke off after {done:,} of {size:,} bytes")
        actual = file_digest(tmp, checksum)
        if actual != checksum:
            raise DownloadError(f"checksum mismatch (expected {checksum}, got {actual}); the file was discarded")
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise DestinationError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:  # also on KeyboardInterrupt and SystemExit
        tmp.unlink(missing_ok=True)
        with _PARTS_LOCK:
            _PARTS.pop(tmp, None)
            if cancel is not None:
                _SOCKETS.pop(id(cancel), None)


@atexit.register
def _remove_parts() -> None:
    """Cancel the downloads still running at exit and remove their temporary files."""
    with _PARTS_LOCK:
        parts = dict(_PARTS)
    for tmp, cancel in parts.items():
        if cancel is not None:
            cancel.set()
        tmp.unlink(missing_ok=True)
