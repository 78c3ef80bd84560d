"""download_mnist against a local HTTP server: verified success, bad checksums, broken connections, cancel."""

from __future__ import annotations

import hashlib
import http.server
import threading

import numpy as np
import pytest

from ganviz.core.mnist.data import load_idx_dir
from ganviz.core.mnist.download import DownloadCancelled, DownloadError, download_mnist
from ganviz.core.mnist.idx import write_idx


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    truncate: set[str] = set()  # names answered with a Content-Length larger than the body, then closed

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        if name not in self.files:
            self.send_error(404)
            return
        body = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) + (5000 if name in self.truncate else 0)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "img.gz", rng.integers(0, 256, (20, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "lab.gz", rng.integers(0, 10, 20, dtype=np.uint8))
    Handler.files = {"train-images-idx3-ubyte.gz": (tmp_path / "img.gz").read_bytes(),
                     "train-labels-idx1-ubyte.gz": (tmp_path / "lab.gz").read_bytes()}
    Handler.truncate = set()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/mnist/"
    httpd.shutdown()
    httpd.server_close()


def checksums(kind="sha256"):
    return {name: hashlib.new(kind, body).hexdigest() for name, body in Handler.files.items()}


@pytest.mark.parametrize("kind", ["sha256", "md5"])
def test_download_success(server, tmp_path, kind):
    dest = tmp_path / "cache"
    progress = []
    folder = download_mnist(dest, lambda done, total: progress.append((done, total)), base_url=server,
                            files=checksums(kind))
    assert folder == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(Handler.files)
    total = sum(len(b) for b in Handler.files.values())
    assert progress[-1] == (total, total)
    assert all(a[0] <= b[0] for a, b in zip(progress, progress[1:]))
    assert len(load_idx_dir(dest)) == 20


def test_bad_checksum_leaves_no_file(server, tmp_path):
    files = checksums()
    files["train-labels-idx1-ubyte.gz"] = "0" * 64
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_mnist(dest, base_url=server, files=files)
    assert [p.name for p in dest.iterdir()] == ["train-images-idx3-ubyte.gz"]  # the good file is kept


def test_interrupted_response_leaves_no_file(server, tmp_path):
    Handler.truncate = {"train-images-idx3-ubyte.gz"}
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError, match="broke off"):
        download_mnist(dest, base_url=server, files=checksums())
    assert list(dest.iterdir()) == []


def test_next_mirror_is_tried(server, tmp_path):
    dest = tmp_path / "cache"
    download_mnist(dest, base_url=(server + "missing/", server.replace("/mnist/", "/nowhere/"), server),
                   files=checksums())
    assert len(list(dest.iterdir())) == 2
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_mnist(tmp_path / "other", base_url=server + "missing/", files={"absent.gz": "0" * 64})


def test_cancel_leaves_no_file(server, tmp_path):
    cancel = threading.Event()
    cancel.set()
    dest = tmp_path / "cache"
    with pytest.raises(DownloadCancelled):
        download_mnist(dest, base_url=server, files=checksums(), cancel=cancel)
    assert list(dest.iterdir()) == []


def test_existing_verified_files_are_kept(server, tmp_path):
    dest = tmp_path / "cache"
    files = checksums()
    download_mnist(dest, base_url=server, files=files)
    Handler.files = {}  # the server now has nothing: a second call must not need it
    assert download_mnist(dest, base_url=server, files=files) == dest


# --- robustness (shared/qa/robustness-cases.md 26-28) ------------------------------------------
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from ganviz.cli import main as cli_main  # noqa: E402
from ganviz.core.mnist import download as dl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """Sends the first 70 kB of a 10 MB file, then stalls until the test releases it."""

    release = threading.Event()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(10_000_000))
        self.end_headers()
        self.wfile.write(bytes(70_000))
        self.wfile.flush()
        self.release.wait(30)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    SlowHandler.release = threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/mnist/"
    SlowHandler.release.set()
    httpd.shutdown()
    httpd.server_close()


def wait_for_part(dest: Path, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if dest.is_dir() and any(p.name.endswith(".part") and p.stat().st_size > 0 for p in dest.iterdir()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no .part file appeared in {dest}")


CLI_SCRIPT = """
import sys
from ganviz.core.mnist import download
download.MNIST_MIRRORS = (sys.argv[1],)
from ganviz.cli import main
sys.exit(main(["download-mnist", "--dest", sys.argv[2]]))
"""


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signal_during_download_mnist_leaves_no_part_and_says_one_line(slow_server, tmp_path, sig, code, word):
    """Case 27: SIGTERM left a .part (no cleanup ran); Ctrl-C printed a traceback."""
    dest = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", CLI_SCRIPT, slow_server, str(dest)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_part(dest)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in err, err
    assert list(dest.iterdir()) == []


EXIT_SCRIPT = """
import sys, threading, time
from pathlib import Path
from ganviz.core.mnist.download import download_mnist
dest = Path(sys.argv[2])
threading.Thread(target=download_mnist, args=(dest,), kwargs={"base_url": sys.argv[1]}, daemon=True).start()
end = time.monotonic() + 20
while not any(p.name.endswith(".part") for p in dest.glob("*")) and time.monotonic() < end:
    time.sleep(0.05)
sys.exit(0)  # as when the window closes mid-download: the daemon thread never reaches its finally
"""


def test_exit_during_a_background_download_removes_the_part(slow_server, tmp_path):
    """Case 26 (core): a download thread still running at exit leaves no .part in the cache."""
    dest = tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, slow_server, str(dest)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert dest.is_dir() and list(dest.iterdir()) == []


def test_cancel_mid_file_leaves_no_part(slow_server, tmp_path):
    """The window's Cancel (and its close) set the Event while a file is half received."""
    cancel = threading.Event()
    dest = tmp_path / "cache"

    def progress(done, total):
        if done:
            assert any(p.name.endswith(".part") for p in dest.iterdir())
            cancel.set()

    with pytest.raises(DownloadCancelled):
        download_mnist(dest, progress, base_url=slow_server, files={"a.gz": "0" * 64}, cancel=cancel)
    assert list(dest.iterdir()) == []


def test_keyboard_interrupt_mid_download_leaves_no_part(server, tmp_path):
    def interrupt(done, total):
        if done:
            raise KeyboardInterrupt

    dest = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        download_mnist(dest, interrupt, base_url=server, files=checksums())
    assert list(dest.iterdir()) == []


def test_read_only_dest_is_one_clear_line(tmp_path, monkeypatch, capsys):
    """Case 28: the temporary file was created outside the try: a PermissionError traceback.
    (Simulated: the tests may run as root, for whom permissions do not apply.)"""

    def denied(*args, dir=None, **kw):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(dl.tempfile, "mkstemp", denied)
    monkeypatch.setattr(dl, "MNIST_MIRRORS", ("http://127.0.0.1:9/unused/",))  # never reached
    dest = tmp_path / "ro"
    with pytest.raises(DownloadError, match=f"cannot write into {dest}: Permission denied"):
        download_mnist(dest)
    assert cli_main(["download-mnist", "--dest", str(dest)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write into" in err and "Permission denied" in err


def test_full_disk_is_not_called_a_broken_connection(server, tmp_path, monkeypatch):
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(28, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(dl.os, "fdopen", lambda fd, *a, **kw: Full(real_fdopen(fd, *a, **kw)))
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError, match="cannot write into .*No space left on device"):
        download_mnist(dest, base_url=(server, server), files=checksums())
    assert list(dest.iterdir()) == []
