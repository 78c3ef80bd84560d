"""`ganviz train`: outputs, errors with exit code 2, nothing half-written, NaN handling."""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from ganviz.cli import main

ROOT = Path(__file__).resolve().parents[1]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_train_writes_metrics_config_and_final_png(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--mode", "1d", "--dataset", "trimodal", "--steps", "120", "--k", "2", "--lr-d", "0.002",
                 "--log-every", "40", "--seed", "5", "--out", str(out)]) == 0
    rows = read_csv(out / "metrics.csv")
    for column in ("step", "d_loss", "g_loss", "v", "jsd", "jsd_d", "kl", "d_real", "d_fake"):
        assert column in rows[0]
    assert [int(r["step"]) for r in rows] == [0, 40, 80, 120]
    for r in rows[1:]:
        jsd, jsd_d, v = float(r["jsd"]), float(r["jsd_d"]), float(r["v"])
        assert 0 <= jsd <= math.log(2)
        assert jsd_d == pytest.approx((v + math.log(4)) / 2, abs=1e-9)
        assert jsd_d <= jsd + 1e-9
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["dataset"] == "trimodal" and cfg["k"] == 2 and cfg["lr_d"] == 0.002 and cfg["seed"] == 5
    png = (out / "final.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "120 iterations" in capsys.readouterr().err


def test_same_config_repeats_the_run(tmp_path):
    args = ["train", "--steps", "60", "--log-every", "30", "--seed", "11"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    assert read_csv(tmp_path / "a" / "metrics.csv") == read_csv(tmp_path / "b" / "metrics.csv")


def test_freeze_g_is_fit_d_star(tmp_path):
    out = tmp_path / "fit"
    assert main(["train", "--steps", "3000", "--freeze-g", "--log-every", "500", "--out", str(out)]) == 0
    rows = read_csv(out / "metrics.csv")
    assert all(r["g_loss"] == "" for r in rows)  # G never updated
    jsd = [float(r["jsd"]) for r in rows]
    assert max(jsd) - min(jsd) < 1e-9  # P_G did not move
    assert float(rows[-1]["jsd_d"]) > float(rows[0]["jsd_d"]) + 0.05


@pytest.mark.parametrize("args, option", [
    (["--dataset", "nope"], "--dataset"),
    (["--k", "0"], "--k"),
    (["--k", "x"], "--k"),
    (["--lr-d", "0"], "--lr-d"),
    (["--lr-g", "-1e-3"], "--lr-g"),
    (["--lr-d", "nan"], "--lr-d"),
    (["--lr-g", "inf"], "--lr-g"),
    (["--steps", "-5"], "--steps"),
    (["--mode", "3d"], "--mode"),
])
def test_bad_options_exit_2_with_one_line_naming_the_option(tmp_path, capsys, args, option):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exc:
        code = main(["train", *args, "--out", str(out)])
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option in err
    assert not out.exists()  # nothing half-written


def test_unwritable_out_is_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["train", "--steps", "5", "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--out" in err and len(err.splitlines()) == 1


def test_nan_during_training_stops_with_a_message_and_keeps_the_metrics(tmp_path, capsys, monkeypatch):
    from ganviz.core.toy1d import Toy1DTask

    calls = {"n": 0}
    sample_real = Toy1DTask.sample_real

    def poisoned(self, m, gen):  # real data turns to NaN after ~125 D updates
        calls["n"] += 1
        x = sample_real(self, m, gen)
        return x * float("nan") if calls["n"] > 125 else x

    monkeypatch.setattr(Toy1DTask, "sample_real", poisoned)
    out = tmp_path / "nan"
    code = main(["train", "--steps", "1000", "--log-every", "50", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "diverged" in err and "metrics.csv" in err
    rows = read_csv(out / "metrics.csv")
    assert [r["step"] for r in rows] == ["0", "50", "100"]  # everything measured before the NaN
    assert not (out / "final.png").exists()


def test_help_documents_every_option():
    out = subprocess.run([sys.executable, "-m", "ganviz", "train", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0
    for option in ("--mode", "--dataset", "--steps", "--k", "--lr-d", "--lr-g", "--loss", "--batch", "--hidden",
                   "--layers", "--noise-dim", "--optimizer", "--seed", "--device", "--log-every", "--freeze-g",
                   "--max-minutes", "--out"):
        assert option in out.stdout
    top = subprocess.run([sys.executable, "-m", "ganviz", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert top.returncode == 0 and "train" in top.stdout and "bench" in top.stdout


def test_unavailable_device_falls_back_with_a_notice(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert main(["train", "--steps", "5", "--device", "cuda", "--out", str(tmp_path / "dev")]) == 0
    assert "not available" in capsys.readouterr().err


def test_max_minutes_stops_cleanly(tmp_path):
    out = tmp_path / "budget"
    assert main(["train", "--steps", "10000000", "--max-minutes", "0.01", "--log-every", "100",
                 "--out", str(out)]) == 0
    rows = read_csv(out / "metrics.csv")
    assert 0 < int(rows[-1]["step"]) < 10000000
    assert (out / "final.png").exists()


OPEN_AND_CLOSE = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from ganviz.cli import main
from ganviz.ui import MainWindow
seen = []
def close_windows():
    windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    seen.extend(windows)
    for w in windows:
        w.close()
    QApplication.quit()
QTimer.singleShot(2000, close_windows)
code = main(["--mode", "1d", "--dataset", "trimodal"])
assert code == 0, code
assert len(seen) == 1 and seen[0].cfg.dataset == "trimodal"
assert seen[0].worker.isFinished()
assert seen[0].jsd_label.text() != "—"
print("ok")
"""


def test_ganviz_without_a_command_opens_the_window():
    # In its own process: app.exec() returning leaves the test session's QApplication without timers.
    out = subprocess.run([sys.executable, "-c", OPEN_AND_CLOSE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_window_with_a_bad_dataset_exits_2(capsys):
    assert main(["--dataset", "nope"]) == 2
    assert "--dataset" in capsys.readouterr().err


def test_train_2d_writes_mode_coverage_columns(tmp_path):
    out = tmp_path / "ring"
    assert main(["train", "--mode", "2d", "--dataset", "ring8", "--steps", "200", "--log-every", "100",
                 "--out", str(out)]) == 0
    rows = read_csv(out / "metrics.csv")
    for column in ("step", "d_loss", "g_loss", "v", "jsd", "jsd_d", "modes", "hq"):
        assert column in rows[0]
    assert 0 <= float(rows[-1]["modes"]) <= 8 and 0 <= float(rows[-1]["hq"]) <= 1
    assert (out / "final.png").read_bytes()[:4] == b"\x89PNG"
    out2 = tmp_path / "moons"
    assert main(["train", "--mode", "2d", "--dataset", "moons", "--steps", "100", "--log-every", "100",
                 "--out", str(out2)]) == 0
    assert read_csv(out2 / "metrics.csv")[-1]["modes"] == ""  # not a mixture of known modes


def test_train_2d_with_a_bad_points_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,z\n1,2,3\n")
    out = tmp_path / "never"
    assert main(["train", "--mode", "2d", "--dataset", str(bad), "--steps", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--dataset" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_train_mnist_writes_metrics_and_grids(tmp_path):
    out = tmp_path / "mnist"
    assert main(["train", "--mode", "mnist", "--steps", "20", "--log-every", "10", "--grid-every", "10",
                 "--out", str(out)]) == 0
    rows = read_csv(out / "metrics.csv")
    for column in ("step", "d_loss", "g_loss", "d_real", "d_fake", "score", "fd"):
        assert column in rows[0]
    assert [r["step"] for r in rows] == ["0", "10", "20"]
    assert 1.0 <= float(rows[-1]["score"]) <= 10.0 and float(rows[-1]["fd"]) > 0
    for name in ("grid_000010.png", "grid_000020.png", "grid_final.png", "final.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name


def test_train_mnist_with_a_missing_folder_exits_2(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["train", "--mode", "mnist", "--data-dir", str(tmp_path / "nowhere"), "--steps", "5",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--data-dir" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_an_error_inside_training_is_a_message_not_a_traceback(tmp_path, capsys, monkeypatch):
    from ganviz.core.trainer import Trainer

    def out_of_memory(self, n=1):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(Trainer, "step", out_of_memory)
    out = tmp_path / "oom"
    assert main(["train", "--steps", "100", "--log-every", "10", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "out of memory" in err and "Traceback" not in err
    assert read_csv(out / "metrics.csv")[0]["step"] == "0"
