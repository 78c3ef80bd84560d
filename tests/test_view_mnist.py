"""MnistView draws snapshots into its image items and validates folders before asking for a new run."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PySide6.QtWidgets import QLabel  # noqa: E402

from ganviz.core.config import TrainConfig  # noqa: E402
from ganviz.core.mnist.idx import write_idx  # noqa: E402
from ganviz.core.mnist.task import MnistTask  # noqa: E402
from ganviz.core.snapshot import Snapshot  # noqa: E402
from ganviz.core.trainer import Trainer  # noqa: E402
from ganviz.ui.view_mnist import MnistView  # noqa: E402


@pytest.fixture
def view(qtbot):
    v = MnistView()
    qtbot.addWidget(v)
    qtbot.addWidget(v.extra_controls())  # the window would put it in its side panel
    return v


def snapshot_of(trainer: Trainer, iteration: int) -> Snapshot:
    ev = trainer.evaluate(views=True)
    history = {"step": np.arange(iteration, dtype=float)}
    for name in ("d_loss", "g_loss", "v", "d_real", "d_fake", "score", "fd"):
        history[name] = np.linspace(0, 1, iteration)
    return Snapshot(mode="mnist", iteration=iteration, metrics=ev.metrics, history=history, views=ev.picture,
                    target=trainer.task.describe())


def test_view_draws_snapshot(view):
    cfg = TrainConfig.for_mode("mnist", hidden=16, batch=32)
    task = MnistTask(cfg, torch.device("cpu"), classifier=False)
    task.eval_budget.fraction = None  # every evaluation measured afresh
    trainer = Trainer(cfg, task=task)
    snap = snapshot_of(trainer, 5)
    view.show_snapshot(snap)
    np.testing.assert_array_equal(view.grid_item.image, snap.views.grid)
    assert view.strip_items["real"].image.shape == (32, 8 * 30 + 2)
    assert view.score_texts["fake"][0].toPlainText() == f"{snap.views.fake.scores[0]:.2f}"
    view.history.flush()  # the curves redraw at a limited rate
    assert len(view.history.curves["d_loss"].xData) == 5
    assert view.extra_controls().findChild(QLabel, "datasetInfoLabel").text() == snap.target
    assert "n/a" in view.status_label.text()  # classifier not requested here: metrics NaN

    trainer.step(3)
    later = snapshot_of(trainer, 8)
    view.show_snapshot(later)
    np.testing.assert_array_equal(view.grid_item.image, later.views.grid)
    assert not np.array_equal(view.grid_item.image, snap.views.grid)

    assert view.fresh_item.image.max() == view.fresh_item.image.min()  # hidden: not drawn
    view.fresh_check.setChecked(True)
    view.show_snapshot(later)
    np.testing.assert_array_equal(view.fresh_item.image, later.views.grid_fresh)

    view.clear()
    assert view.grid_item.image.max() == view.grid_item.image.min()


def test_use_data_dir_validates_first(view, qtbot, tmp_path):
    messages = []
    view.message.connect(messages.append)
    with qtbot.assertNotEmitted(view.restart_requested):
        assert not view.use_data_dir(str(tmp_path))
    assert "no training image file" in messages[-1]
    assert view.config_changes() == {}

    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    with qtbot.waitSignal(view.restart_requested) as blocker:
        assert view.use_data_dir(str(tmp_path))
    assert blocker.args == [{"data_dir": str(tmp_path)}]
    assert view.config_changes() == {"data_dir": str(tmp_path)}


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):
        body = self.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_download_button_fetches_then_restarts(view, qtbot, tmp_path):
    write_idx(tmp_path / "i.gz", np.zeros((4, 28, 28), np.uint8))
    _Files.files = {"train-images-idx3-ubyte.gz": (tmp_path / "i.gz").read_bytes()}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        view.download_base_url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        view.download_dir = tmp_path / "dl"
        good = {n: hashlib.sha256(b).hexdigest() for n, b in _Files.files.items()}
        messages = []
        view.message.connect(messages.append)

        view.download_files = {n: "f" * 64 for n in good}  # a bad checksum: error, no restart
        with qtbot.assertNotEmitted(view.restart_requested, wait=0):
            view.start_download()
            qtbot.waitUntil(lambda: view.download_button.isEnabled(), timeout=5000)
        assert "checksum mismatch" in messages[-1] and "current dataset stays" in messages[-1]

        view.download_files = good
        with qtbot.waitSignal(view.restart_requested, timeout=5000) as blocker:
            view.start_download()
        assert blocker.args == [{"data_dir": str(tmp_path / "dl")}]
        assert not view.progress.isVisible() and view.download_button.isEnabled()
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_model_combo_starts_a_new_run_with_that_models_settings(qtbot):
    """Mode settings › model: picking the MLP rebuilds every lane with the MLP's settings and says so;
    Copy command repeats it, Restore defaults keeps it, and the combo shows a loaded run's model."""
    from ganviz.ui import MainWindow

    w = MainWindow(mode="mnist")
    qtbot.addWidget(w)
    w.show()
    try:
        combo = w.view.arch_combo
        assert combo.currentData() == "conv" and w.cfg.extra == {}
        assert "averaged" in w.view.grid_widget.title.text
        combo.setCurrentIndex(combo.findData("mlp"))
        qtbot.waitUntil(lambda: w.cfg.extra.get("arch") == "mlp", timeout=20000)
        assert (w.cfg.hidden, w.cfg.loss, w.cfg.lr_d) == (256, "nonsaturating", 2e-4)
        assert "Model MLP" in w.statusBar().currentMessage() and "every lane starts again" in w.statusBar().currentMessage()
        assert "--arch mlp" in w.copy_command() and "--hidden" not in w.copy_command()
        w.restore_defaults()
        assert w.cfg.hidden == 256
        combo.setCurrentIndex(combo.findData("conv-legacy"))
        qtbot.waitUntil(lambda: w.cfg.extra.get("arch") == "conv-legacy", timeout=20000)
        qtbot.waitUntil(lambda: "averaged" not in w.view.grid_widget.title.text, timeout=5000)
        assert (w.cfg.hidden, w.cfg.loss) == (32, "nonsaturating")
    finally:
        w.close()
        assert w.worker.wait(5000)
