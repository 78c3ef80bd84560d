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


def test_load_data_checks_off_the_ui_thread_before_asking_for_a_run(view, qtbot, tmp_path):
    messages = []
    view.message.connect(messages.append)
    with qtbot.assertNotEmitted(view.restart_requested, wait=0):
        view.load_data(str(tmp_path))
        qtbot.waitUntil(lambda: "cannot use" in messages[-1], timeout=5000)
    assert not view.loading and not view.load_progress.isVisibleTo(view.extra_controls())
    assert "no image files" in messages[-1] and "current data stays" in messages[-1]
    assert view.config_changes() == {}

    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    with qtbot.waitSignal(view.restart_requested, timeout=5000) as blocker:
        view.load_data(str(tmp_path))
    assert blocker.args == [{"data_dir": str(tmp_path)}]
    assert view.config_changes() == {"data_dir": str(tmp_path)}
    assert messages[-1].startswith("loaded IDX from") and "3 images, no labels" in messages[-1]


def coloured_folder(root, classes=("red", "green", "blue"), per_class=3):
    from PIL import Image

    for c, colour in zip(classes, ((220, 30, 30), (30, 200, 60), (40, 60, 230))):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (40 + 10 * i, 30), colour).save(root / c / f"{i}.png")
    return root


def test_a_folder_of_images_is_named_with_its_classes(view, qtbot, tmp_path):
    messages = []
    view.message.connect(messages.append)
    folder = coloured_folder(tmp_path / "flowers")
    with qtbot.waitSignal(view.restart_requested, timeout=5000) as blocker:
        view.load_data(folder)
    assert blocker.args == [{"data_dir": str(folder)}]
    assert "image folder …/" in messages[-1] and "9 images, 3 classes" in messages[-1]
    assert not view.load_progress.isVisibleTo(view.extra_controls()) and not view.loading


def test_unreadable_folder_is_a_message_not_an_exception(view, qtbot, tmp_path, monkeypatch):
    """Case 22 in the window: "Choose folder…" on a folder that cannot be listed."""
    import pathlib

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "iterdir", denied)
    messages = []
    view.message.connect(messages.append)
    with qtbot.assertNotEmitted(view.restart_requested, wait=0):
        view.load_data(tmp_path)
        qtbot.waitUntil(lambda: not view.loading and "Permission denied" in messages[-1], timeout=5000)
    assert "cannot" in messages[-1] and "current data stays" in messages[-1]


@pytest.fixture
def slow_decoding(monkeypatch):
    """Each image takes 50 ms to decode, so a load of 60 lasts 3 s: long enough to watch and to stop."""
    import time

    from ganviz.core.mnist import data

    data.forget_cached()
    real = data.to_side

    def slow(image):
        time.sleep(0.05)
        return real(image)

    monkeypatch.setattr(data, "to_side", slow)
    yield
    data.forget_cached()


def test_a_long_load_leaves_the_ui_responsive_and_cancel_joins_it(view, qtbot, tmp_path, slow_decoding):
    """Case 23 in the window: reading happens on a thread; the UI thread keeps handling events
    (the progress bar moves, which needs the event loop) and Cancel stops the thread."""
    folder = coloured_folder(tmp_path / "big", per_class=20)
    messages = []
    view.message.connect(messages.append)
    with qtbot.assertNotEmitted(view.restart_requested, wait=0):
        view.load_data(folder)
        assert view.load_progress.isVisibleTo(view.extra_controls()) and view.loading
        qtbot.waitUntil(lambda: view.load_progress.value() > 0, timeout=5000)
        assert view.loading  # still reading, and the UI thread has been drawing its progress
        assert view.cancel_load(timeout=2.0)
    assert not view.loading and not view.load_progress.isVisibleTo(view.extra_controls())
    assert "loading cancelled" in messages[-1]
    qtbot.wait(100)  # what the stopped thread sent last is dropped, not shown as a failure
    assert "loading cancelled" in messages[-1]


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


# --- the window: closing or switching mode while data loads or MNIST downloads (qa cases 23, 26) ---
@pytest.fixture
def mnist_window(qtbot):
    from ganviz.ui import MainWindow

    w = MainWindow(mode="mnist")
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
    assert w.worker.wait(5000)


def test_closing_the_window_mid_load_cancels_and_joins_the_load(mnist_window, qtbot, tmp_path, slow_decoding):
    import time

    folder = coloured_folder(tmp_path / "big", per_class=20)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    view = mnist_window.views["mnist"]
    view.load_data(folder)
    qtbot.waitUntil(lambda: view.load_progress.value() > 0, timeout=5000)
    thread = view._images_load.reader
    start = time.monotonic()
    mnist_window.close()
    assert time.monotonic() - start < 2.0 and not thread.is_alive()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no temporary files


def test_a_load_that_ends_after_a_mode_switch_is_not_applied(mnist_window, qtbot, tmp_path, slow_decoding):
    folder = coloured_folder(tmp_path / "few", per_class=4)  # 12 images: ~0.6 s
    view = mnist_window.views["mnist"]
    view.load_data(folder)
    mnist_window.mode_combo.setCurrentIndex(mnist_window.mode_combo.findData("1d"))
    qtbot.waitUntil(lambda: mnist_window.frame is not None and mnist_window.frame.mode == "1d", timeout=10000)
    qtbot.waitUntil(lambda: not view.loading, timeout=10000)
    qtbot.waitUntil(lambda: any("not applied" in e.text for e in mnist_window.log_entries()), timeout=5000)
    qtbot.wait(200)
    assert mnist_window.frame.mode == "1d" and mnist_window.worker.session.cfg.data_dir is None


class _Stall(http.server.BaseHTTPRequestHandler):
    """Sends 50 kB of a 10 MB file, then stalls until released."""

    release = threading.Event()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(10_000_000))
        self.end_headers()
        self.wfile.write(bytes(50_000))
        self.wfile.flush()
        self.release.wait(30)

    def log_message(self, *args):
        pass


def test_closing_the_window_mid_download_cancels_it_and_leaves_no_part(mnist_window, qtbot, tmp_path):
    """Case 26 in the window: the download thread is cancelled and joined, its .part removed."""
    import time

    _Stall.release = threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stall)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        view = mnist_window.views["mnist"]
        view.download_base_url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        view.download_files = {"train-images-idx3-ubyte.gz": "0" * 64}
        view.download_dir = dest = tmp_path / "dl"
        view.start_download()
        qtbot.waitUntil(lambda: dest.is_dir() and any(p.name.endswith(".part") for p in dest.iterdir()),
                        timeout=10000)
        thread = view._download
        start = time.monotonic()
        mnist_window.close()
        assert time.monotonic() - start < 3.0 and not thread.is_alive()
        assert list(dest.iterdir()) == []
    finally:
        _Stall.release.set()
        httpd.shutdown()
        httpd.server_close()


def test_the_window_trains_on_a_loaded_folder_and_names_it(mnist_window, qtbot, tmp_path):
    folder = coloured_folder(tmp_path / "flowers", per_class=3)
    mnist_window.views["mnist"].load_data(folder)
    qtbot.waitUntil(lambda: mnist_window.frame is not None and mnist_window.frame.target.startswith("image folder"),
                    timeout=20000)
    assert "9 images, 3 classes" in mnist_window.frame.target
    assert mnist_window.worker.session.cfg.data_dir == str(folder)
    qtbot.waitUntil(lambda: mnist_window.dataset_combo.currentText() == "own: flowers", timeout=5000)
    assert any(e.text.startswith("loaded image folder") for e in mnist_window.log_entries())


def test_the_model_combo_starts_a_new_run_with_that_models_settings(qtbot):
    """Mode settings › model: picking the MLP rebuilds every lane with the MLP's settings and says so;
    Copy command repeats it, Restore defaults keeps it, and the combo shows a loaded run's model."""
    from ganviz.ui import MainWindow

    w = MainWindow(mode="mnist")
    qtbot.addWidget(w)
    w.show()
    try:
        combo = w.view.arch_combo
        assert combo.currentData() == "conv" and w.cfg.extra == {} and w.cfg.k_g == 2
        assert w.k_g_slider.value() == 2  # the conv model trains G twice per iteration, and the panel says so
        assert "averaged" in w.view.grid_widget.title.text
        combo.setCurrentIndex(combo.findData("mlp"))
        qtbot.waitUntil(lambda: w.cfg.extra.get("arch") == "mlp", timeout=20000)
        assert (w.cfg.hidden, w.cfg.loss, w.cfg.lr_d, w.cfg.k_g) == (256, "nonsaturating", 2e-4, 1)
        qtbot.waitUntil(lambda: w.k_g_slider.value() == 1, timeout=5000)
        assert "Model MLP" in w.statusBar().currentMessage() and "k_G = 1" in w.statusBar().currentMessage()
        assert "every lane starts again" in w.statusBar().currentMessage()
        assert "--arch mlp" in w.copy_command() and "--hidden" not in w.copy_command() and "--k-g" not in w.copy_command()
        w.restore_defaults()
        assert w.cfg.hidden == 256
        combo.setCurrentIndex(combo.findData("conv-legacy"))
        qtbot.waitUntil(lambda: w.cfg.extra.get("arch") == "conv-legacy", timeout=20000)
        qtbot.waitUntil(lambda: "averaged" not in w.view.grid_widget.title.text, timeout=5000)
        assert (w.cfg.hidden, w.cfg.loss) == (32, "nonsaturating")
    finally:
        w.close()
        assert w.worker.wait(5000)
