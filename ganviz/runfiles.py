"""The files of a headless run's output folder, written so that nothing is ever half-written or silently lost:
checks before anything is written, a lock per folder, atomic config.json/PNG writes, whole CSV rows, clean stops."""

from __future__ import annotations

import csv
import io
import os
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ganviz.core.config import ConfigError
from ganviz.core.metrics_log import _cell
from ganviz.core.oserror import reason  # noqa: F401  (the CLI's modules import it from here)

LOCK = ".ganviz.lock"
CHECKPOINT = "checkpoint"
# What a run writes; a folder holding one of the first two already holds a run.
RUN_MARKERS = ("config.json", "metrics.csv")
RUN_FILES = ("config.json", "metrics.csv", "final.png", "grid_final.png", "samples.csv")
SAMPLES = "samples.csv"
MAX_SAMPLES = 1_000_000  # --samples / Export samples…: 10⁶ rows are ~40 MB of CSV; more is a job for a script


def out_path(text: str, option: str = "--out") -> Path:
    """The folder named by `text`; an empty string is refused rather than taken as the current folder."""
    if not text.strip():
        raise ConfigError(option, "must name a folder (got an empty string)")
    return Path(text)


def check_out_dir(out: Path, option: str = "--out") -> None:
    """Raise ConfigError(option) unless `out` is, or can be created as, a writable directory."""
    if out.exists():
        if not out.is_dir():
            raise ConfigError(option, f"{out} exists and is not a directory")
        if not os.access(out, os.W_OK | os.X_OK):
            raise ConfigError(option, f"{out} is not writable")
        return
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(option, f"cannot create {out}: {parent} is not a writable directory")


def holds_run(out: Path) -> bool:
    return any((out / name).exists() for name in (*RUN_MARKERS, CHECKPOINT))


def check_targets(out: Path, names: tuple[str, ...] = RUN_FILES, option: str = "--out") -> None:
    """Every file a run will write into `out` can be written: not a folder, not read-only (checked
    before anything is written, so a refusal leaves the old files as they were)."""
    for name in names:
        path = out / name
        if path.is_dir():
            raise ConfigError(option, f"{path} is a folder; the run writes a file there")
        if path.exists() and not os.access(path, os.W_OK):
            raise ConfigError(option, f"{path} is not writable")
    cp = out / CHECKPOINT
    if cp.exists() and not cp.is_dir():
        raise ConfigError(option, f"{cp} is a file; the run keeps its checkpoint folder there")


def clear_run(out: Path) -> None:
    """Remove what an earlier run wrote into `out` (--overwrite), so no stale file stays beside the new run."""
    import shutil

    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for grid in out.glob("grid_*.png"):
        grid.unlink(missing_ok=True)
    if (out / CHECKPOINT).is_dir():
        shutil.rmtree(out / CHECKPOINT)


class OutLock:
    """DIR/.ganviz.lock, created with O_EXCL: a second run into the same folder is refused. A lock
    left by a process that no longer exists (killed with SIGKILL) is taken over."""

    def __init__(self, out: Path, option: str = "--out"):
        self.path = out / LOCK
        self.option = option
        self.held = False

    @classmethod
    def take(cls, out: Path, option: str = "--out") -> "OutLock":
        """Create `out` if needed and lock it; ConfigError (naming `option`) when either fails."""
        lock = cls(out, option)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(option, reason(exc)) from None
        lock.acquire()
        return lock

    def acquire(self) -> None:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if self._stale():
                    self.path.unlink(missing_ok=True)
                    continue
                raise ConfigError(self.option, f"another ganviz run is writing into {self.path.parent} "
                                               f"(remove {self.path} if that run no longer exists)") from None
            except OSError as exc:
                raise ConfigError(self.option, f"cannot write into {self.path.parent}: {reason(exc)}") from None
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            self.held = True
            return
        raise ConfigError(self.option, f"cannot lock {self.path.parent}")

    def _stale(self) -> bool:
        try:
            pid = int(self.path.read_text().strip())
        except (OSError, ValueError):
            return False  # being written right now, or not ours to judge
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> "OutLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file (mkstemp's files are 0600)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary sibling, then rename over `path`: `path` is either the old or the new file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save(path: Path, save) -> None:
    """`save(tmp_path)` writes the file (e.g. a PNG); it is renamed to `path` only when complete."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
    finally:
        os.close(fd)
    try:
        save(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_samples_csv(path: Path, columns: tuple[str, ...], points) -> None:
    """samples.csv: a header of the data's column names, then one row per point at full float64
    precision, written to a temporary name and renamed (the old file or the whole new one, never half)."""
    import numpy as np

    points = np.asarray(points, dtype=np.float64).reshape(len(points), len(columns))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    writer.writerows([[repr(float(v)) for v in row] for row in points.tolist()])
    atomic_write_text(Path(path), buf.getvalue())


def check_samples(n) -> int:
    """The number of samples to write, checked (ConfigError naming --samples)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
        raise ConfigError("--samples", f"must be an integer between 1 and {MAX_SAMPLES:,} (got {n!r})")
    return n


def export_samples(task, G, n: int, seed: int, path: Path) -> int:
    """Write n samples of P_G (in the data's units, seeded by `seed`) to `path` as samples.csv; returns
    how many. ValueError when the mode has no point samples or G's samples are not finite."""
    import numpy as np
    import torch

    if not hasattr(task, "generated_samples"):
        raise ValueError(f"the {task.mode} mode has no point samples to export (1-D and 2-D modes do)")
    gen = torch.Generator(device=task.device).manual_seed(seed + 7)
    points = task.generated_samples(G, check_samples(n), gen)
    if not np.isfinite(points).all():
        raise ValueError("G's samples are not all finite (NaN or inf): the run has diverged")
    write_samples_csv(path, task.sample_columns(), points)
    return len(points)


def csv_line(values) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerow(values)
    return buf.getvalue().encode("utf-8")


class CsvRows:
    """metrics.csv written row by row; a row that cannot be written whole (disk full) is cut off
    again, so the file always ends on a complete row."""

    def __init__(self, path: Path, columns: tuple[str, ...], append: bool = False):
        self.columns = tuple(columns)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        self._fd = os.open(path, flags, 0o644)
        self._size = os.lseek(self._fd, 0, os.SEEK_END)
        if not append:
            self._put(csv_line(self.columns))

    def _put(self, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                pass
            raise
        self._size += len(data)

    def write(self, row: dict[str, float]) -> None:
        self._put(csv_line([_cell(row.get(name)) for name in self.columns]))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True)
class CsvResume:
    """How metrics.csv goes on from a checkpoint (see resume_csv)."""

    cut: int                          # its length in bytes up to and including the checkpoint's row
    dropped: tuple[str, ...] = ()     # columns an older ganviz wrote (all empty) that this run leaves out
    rewritten: bytes | None = None    # the file up to the cut in this run's columns, when some are dropped

    def apply(self, path: Path) -> None:
        """Cut metrics.csv at the checkpoint's row; with dropped columns, replace it by `rewritten`
        (a temporary file renamed over it: the old file or the whole new one, never half)."""
        if self.rewritten is not None:
            atomic_write_bytes(path, self.rewritten)
        elif path.stat().st_size != self.cut:
            os.truncate(path, self.cut)


def resume_csv(path: Path, columns: tuple[str, ...], iteration: int) -> CsvResume:
    """How metrics.csv must change so that it ends on the row of `iteration` (rows a killed run wrote
    after its checkpoint are dropped) in this run's `columns`. A file whose header has columns the run
    no longer writes, all of them empty in every kept row, is an older ganviz's (it wrote empty
    `modes,hq` for targets without modes): the plan rewrites it without them, keeping every row.
    Raises ValueError when the file does not belong to the checkpoint. Reads only; writes nothing."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    header = lines[0].rstrip(b"\r").decode("utf-8", "replace").split(",")
    keep = _subsequence(header, columns)
    if keep is None:
        raise ValueError(f"{path} does not have the columns of this run")
    offset = len(lines[0]) + 1
    end = None
    for line in lines[1:]:
        if offset + len(line) >= len(data):  # no newline after it: a row cut short
            break
        cell = line.split(b",", 1)[0]
        try:
            step = int(cell)
        except ValueError:
            raise ValueError(f"{path} is damaged (a row starts with {cell[:20]!r})") from None
        if step > iteration:
            break
        offset += len(line) + 1
        if step == iteration:
            end = offset
    if end is None:
        raise ValueError(f"{path} has no row for iteration {iteration}, where the checkpoint is")
    if len(keep) == len(header):
        return CsvResume(end)
    dropped = [i for i in range(len(header)) if i not in keep]
    out = [csv_line(columns)]
    rows = csv.reader(io.StringIO(data[:end].decode("utf-8", "replace"), newline=""))
    next(rows)
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path} is damaged (line {number} has {len(row)} cells for {len(header)} columns)")
        full = [header[i] for i in dropped if row[i].strip()]
        if full:
            raise ValueError(f"{path} does not have the columns of this run (it has values in {full[0]}, "
                             "which this run does not write)")
        out.append(csv_line([row[i] for i in keep]))
    return CsvResume(end, tuple(header[i] for i in dropped), b"".join(out))


def _subsequence(header: list[str], columns: tuple[str, ...]) -> list[int] | None:
    """The positions of `columns` in `header` when they appear there in order (others between them), else None."""
    keep: list[int] = []
    for i, name in enumerate(header):
        if len(keep) < len(columns) and name == columns[len(keep)]:
            keep.append(i)
    return keep if len(keep) == len(columns) else None


class StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM ask the run to stop at the next measured row instead of killing it
    mid-write; a second signal while the last files are written is noted and ignored."""

    def __init__(self):
        self.signal: int | None = None
        self._old: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.signal is None:
            self.signal = signum

    def __call__(self) -> bool:
        return self.signal is not None

    def __enter__(self) -> "StopSignals":
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signal) if self.signal is not None else 0

    @property
    def name(self) -> str:
        return "interrupted (Ctrl-C)" if self.signal == signal.SIGINT else "stopped (SIGTERM)"


_QT_PROBLEM: list[str | None] = []


def qt_unavailable() -> str | None:
    """Why Qt (PySide6 and pyqtgraph, which draw final.png, compare.png and the window) cannot load
    here, e.g. on a GPU server without libGL/libEGL/fontconfig; None where it can. Probed once."""
    if not _QT_PROBLEM:
        try:
            import PySide6.QtGui  # noqa: F401  (loads libGL, libEGL, fontconfig…)
            import pyqtgraph  # noqa: F401
            problem = None
        except ImportError as exc:
            problem = f"Qt cannot load here ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        _QT_PROBLEM.append(problem)
    return _QT_PROBLEM[0]


def write_gray_png(image, path: str | Path) -> None:
    """Save a 2-D uint8 array (0 = black) as an 8-bit greyscale PNG, with numpy and zlib only (no Qt:
    MNIST grids are written on servers where Qt cannot load)."""
    import struct
    import zlib

    import numpy as np

    data = np.ascontiguousarray(image, dtype=np.uint8)
    if data.ndim != 2:
        raise ValueError(f"a greyscale image is 2-D (got shape {data.shape})")
    h, w = data.shape
    raw = np.concatenate((np.zeros((h, 1), np.uint8), data), axis=1).tobytes()  # filter 0 on every row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)
