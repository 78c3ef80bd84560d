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
