"""Headless runs on a server where Qt cannot load (no libGL/libEGL/fontconfig): PySide6 and pyqtgraph
are blocked in a subprocess, and `ganviz train`, `ganviz sweep` and `ganviz bench` still finish."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# As on a GPU server: importing PySide6 fails inside the import, as a missing libGL.so.1 makes it.
RUN_WITHOUT_QT = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'):
            raise ImportError('libGL.so.1: cannot open shared object file: No such file or directory')
sys.meta_path.insert(0, Block())
from ganviz.cli import main
sys.exit(main(sys.argv[1:]))
"""


def ganviz_without_qt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUN_WITHOUT_QT, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=240)


def test_train_without_qt_writes_the_run_and_skips_final_png(tmp_path):
    out = ganviz_without_qt("train", "--steps", "20", "--log-every", "10", "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    run = tmp_path / "run"
    assert (run / "metrics.csv").read_text().count("\n") == 4  # header, steps 0, 10, 20
    assert json.loads((run / "config.json").read_text())["device_chosen"] == "cpu"
    assert (run / "checkpoint").is_dir() and not (run / "final.png").exists()
    notices = [line for line in out.stderr.splitlines() if "final.png skipped" in line]
    assert len(notices) == 1 and "libGL.so.1" in notices[0], out.stderr
    assert "Traceback" not in out.stderr


def test_mnist_grids_are_written_without_qt(tmp_path):
    out = ganviz_without_qt("train", "--mode", "mnist", "--steps", "10", "--log-every", "10", "--grid-every", "10",
                            "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    for name in ("grid_000010.png", "grid_final.png"):
        assert (tmp_path / "run" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "run" / "final.png").exists()


def test_sweep_without_qt_skips_the_pictures(tmp_path):
    out = ganviz_without_qt("sweep", "--grid", "k=1,2", "--steps", "20", "--log-every", "10",
                            "--out", str(tmp_path / "sw"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "sw" / "summary.csv").exists() and not (tmp_path / "sw" / "compare.png").exists()
    assert "compare.png skipped" in out.stderr and "Traceback" not in out.stderr


def test_bench_without_qt_measures_headless_and_says_the_window_was_skipped():
    out = ganviz_without_qt("bench", "--seconds", "0.3", "--repeats", "1")
    assert "window part is skipped" in out.stdout and "ganviz headless" in out.stdout, out.stdout + out.stderr
    assert "Traceback" not in out.stderr


def test_the_window_without_qt_fails_in_one_line():
    out = ganviz_without_qt()
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "Install section" in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_gray_png_without_qt_round_trips(tmp_path):
    import zlib

    import numpy as np

    from ganviz.runfiles import write_gray_png

    image = (np.arange(6 * 5) * 8).astype(np.uint8).reshape(6, 5)
    write_gray_png(image, tmp_path / "g.png")
    data = (tmp_path / "g.png").read_bytes()
    idat = data[data.index(b"IDAT") + 4:data.index(b"IEND") - 8]
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(6, 6)
    assert (rows[:, 0] == 0).all() and np.array_equal(rows[:, 1:], image)
