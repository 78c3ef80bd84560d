"""The window as a user drives it: controls reach the trainer, play/step/reset/Fit D*, closing, stress."""

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QSlider

from ganviz.core.session import Session
from ganviz.core.snapshot import Snapshot
from ganviz.ui.main_window import lr_to_tick, tick_to_lr


def find(window, cls, name):
    widget = window.findChild(cls, name)
    assert widget is not None, name
    return widget


def step_count(window) -> int:
    """The iteration the window shows; -1 while it shows "—" (a new mode or target, before its first frame)."""
    text = find(window, QLabel, "stepLabel").text()
    return -1 if text == "—" else int(text)


def trainer_of(window):
    """The (single) lane's trainer; read only while the test waits on what it shows."""
    return window.worker.session.lanes[0].trainer


def state(window) -> str:
    """The session's state in the newest frame the window drew (paused | running | fitting | diverged)."""
    frame = window.frame
    if frame is None:
        return ""
    return "diverged" if frame.lanes[0].state == "diverged" else frame.state


def test_window_opens_ready_in_1d_mode_without_training(window, qtbot):
    for cls, name in [(QComboBox, "modeCombo"), (QComboBox, "datasetCombo"), (QComboBox, "lossCombo"),
                      (QSlider, "kSlider"), (QSlider, "lrDSlider"), (QSlider, "lrGSlider"),
                      (QPushButton, "playButton"), (QPushButton, "stepButton"), (QPushButton, "resetButton"),
                      (QPushButton, "fitDButton"), (QLabel, "stepLabel"), (QLabel, "jsdLabel")]:
        find(window, cls, name)
    assert find(window, QComboBox, "modeCombo").currentData() == "1d"
    # the untrained state is drawn: a JSD number appears, but no training happens
    qtbot.waitUntil(lambda: find(window, QLabel, "jsdLabel").text() != "—", timeout=5000)
    assert 0 <= float(find(window, QLabel, "jsdLabel").text()) <= math.log(2)
    qtbot.wait(300)
    assert step_count(window) == 0
    assert len(window.view.p_data_curve.getData()[0]) > 100


def test_lr_slider_is_log_scale_over_1e5_to_1():
    assert tick_to_lr(0) == pytest.approx(1e-5)
    assert tick_to_lr(500) == pytest.approx(1.0)
    assert tick_to_lr(lr_to_tick(3e-4)) == pytest.approx(3e-4, rel=0.03)


def test_sliders_and_loss_reach_the_trainer(window, qtbot):
    trainer = trainer_of(window)
    find(window, QSlider, "kSlider").setValue(5)
    find(window, QSlider, "lrDSlider").setValue(lr_to_tick(0.01))
    find(window, QSlider, "lrGSlider").setValue(lr_to_tick(2e-4))
    loss = find(window, QComboBox, "lossCombo")
    loss.setCurrentIndex(loss.findData("minimax"))
    qtbot.waitUntil(lambda: trainer.cfg.k == 5 and trainer.cfg.loss == "minimax", timeout=3000)
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(0.01, rel=0.03)
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(2e-4, rel=0.03)
    qtbot.mouseClick(find(window, QPushButton, "stepButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: step_count(window) == 1, timeout=3000)
    assert trainer.d_updates == 5 and trainer.g_updates == 1  # one iteration of Algorithm 1 with k = 5


def test_play_advances_the_step_label_and_pause_stops_it(window, qtbot):
    play = find(window, QPushButton, "playButton")
    qtbot.mouseClick(play, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: step_count(window) > 200, timeout=10000)
    qtbot.mouseClick(play, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state(window) == "paused", timeout=3000)
    qtbot.wait(200)
    settled = step_count(window)
    qtbot.wait(300)
    assert step_count(window) == settled == trainer_of(window).iteration
    assert float(find(window, QLabel, "jsdLabel").text()) >= 0


def test_reset_returns_to_the_same_start(window, qtbot):
    import torch

    trainer = trainer_of(window)
    start = [p.clone() for p in trainer.G.parameters()]
    play = find(window, QPushButton, "playButton")
    qtbot.mouseClick(play, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: step_count(window) > 50, timeout=10000)
    qtbot.mouseClick(find(window, QPushButton, "resetButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: step_count(window) == 0 and state(window) == "paused", timeout=5000)
    assert not play.isChecked()
    assert all(torch.equal(a, b) for a, b in zip(start, trainer.G.parameters()))


def weighted_gap(view) -> float:
    """Mean |D − D*| weighted by p_data + p_G, read off the plotted curves."""
    x, d = view.d_curve.getData()
    _, d_star = view.d_star_curve.getData()
    _, p_data = view.p_data_curve.getData()
    _, p_g = view.p_g_curve.getData()
    w = p_data + p_g
    ok = np.isfinite(d_star)
    return float(np.sum((w * np.abs(d - d_star))[ok]) / np.sum(w[ok]))


def test_fit_d_star_moves_d_toward_d_star(window, qtbot):
    trainer = trainer_of(window)
    window.worker.call(Session.step, 300)  # a fixed starting point, so the test does not depend on timing
    qtbot.waitUntil(lambda: step_count(window) == 300, timeout=10000)
    qtbot.wait(200)
    before = weighted_gap(window.view)
    g_updates = trainer.g_updates
    qtbot.mouseClick(find(window, QPushButton, "fitDButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state(window) == "fitting", timeout=3000)
    qtbot.waitUntil(lambda: state(window) == "paused", timeout=60000)
    qtbot.wait(300)
    assert trainer.g_updates == g_updates  # G was frozen
    assert weighted_gap(window.view) < 0.5 * before
    assert "Fit D* done" in window.statusBar().currentMessage()
    jsd = float(find(window, QLabel, "jsdLabel").text())
    bound = float(find(window, QLabel, "boundLabel").text())
    assert abs(jsd - bound) <= 0.25 * jsd


def test_close_during_an_image_mode_fit_d_star_with_k_20_does_not_hang(qtbot):
    """qa case 6: MNIST, k = 20, Fit D*, close: closeEvent waited 45-52 s for one fit step of 100 x 20
    D updates. The fit trains in the session's short chunks, so the thread is joined at once."""
    from ganviz.ui import MainWindow

    w = MainWindow(mode="mnist")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.frame is not None, timeout=30000)
    lane = w.frame.lanes[0].id
    w.worker.call(Session.set, lane, k=20)
    w.worker.call(Session.fit_d_star)
    qtbot.waitUntil(lambda: state(w) == "fitting", timeout=30000)
    w.close()
    assert w.worker.wait(10000)  # it was 45 s; a chunk of 20 D updates takes well under a second


def test_close_during_training_joins_the_thread(qtbot):
    import gc

    from ganviz.ui import MainWindow, gui_gc

    before = gui_gc.holders()
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    # While the window's threads run, Python never collects cycles on them (a closed window's Qt
    # objects destroyed on the training thread deadlock against the GUI thread): only a GUI-thread timer does.
    assert gui_gc.holders() == before + 1 and not gc.isenabled()
    qtbot.mouseClick(find(w, QPushButton, "playButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: step_count(w) > 20, timeout=10000)
    w.close()
    assert w.worker.wait(5000)
    assert w.worker.isFinished()
    assert gui_gc.holders() == before  # given back once its threads are joined
    w.close()
    assert gui_gc.holders() == before  # and only once


def test_hammering_sliders_while_training_never_crashes_or_deadlocks(window, qtbot):
    trainer = trainer_of(window)
    k, lr_d, lr_g = (find(window, QSlider, n) for n in ("kSlider", "lrDSlider", "lrGSlider"))
    loss = find(window, QComboBox, "lossCombo")
    qtbot.mouseClick(find(window, QPushButton, "playButton"), Qt.MouseButton.LeftButton)
    rng = np.random.default_rng(0)
    for i in range(400):
        k.setValue(int(rng.integers(1, 21)))
        lr_d.setValue(int(rng.integers(0, 400)))
        lr_g.setValue(int(rng.integers(0, 400)))
        if i % 50 == 0:
            loss.setCurrentIndex(i // 50 % 2)
        if i % 40 == 0:
            qtbot.wait(5)
    k.setValue(3)
    lr_d.setValue(lr_to_tick(1e-3))
    before = step_count(window)
    qtbot.waitUntil(lambda: trainer.cfg.k == 3 and step_count(window) > before, timeout=10000)
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3, rel=0.03)
    assert window.worker.isRunning()


def test_diverged_training_pauses_and_offers_reset(window, qtbot, monkeypatch):
    from ganviz.core.toy1d import Toy1DTask

    calls = {"n": 0}
    original = Toy1DTask.sample_real

    def poisoned(self, m, gen):
        calls["n"] += 1
        x = original(self, m, gen)
        return x * float("nan") if calls["n"] > 100 else x

    monkeypatch.setattr(Toy1DTask, "sample_real", poisoned)
    play = find(window, QPushButton, "playButton")
    qtbot.mouseClick(play, Qt.MouseButton.LeftButton)
    banner = window.findChild(type(window.banner), "divergedBanner")
    qtbot.waitUntil(banner.isVisible, timeout=10000)
    assert "diverged" in window.banner_text.text()
    assert not play.isChecked() and state(window) == "diverged"
    qtbot.mouseClick(play, Qt.MouseButton.LeftButton)  # qa case 32: Play while diverged must not show "Pause"
    qtbot.waitUntil(lambda: any("every lane has diverged" in e.text for e in window.log_entries()), timeout=5000)
    qtbot.waitUntil(lambda: not play.isChecked(), timeout=5000)
    assert "Play" in play.text() and state(window) == "diverged"
    monkeypatch.setattr(Toy1DTask, "sample_real", original)
    qtbot.mouseClick(window.findChild(QPushButton, "bannerResetButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not banner.isVisible() and state(window) == "paused", timeout=5000)
    qtbot.mouseClick(play, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: step_count(window) > 20, timeout=10000)


def test_a_run_that_diverges_at_once_shows_its_measurement_and_where_it_diverged(window, qtbot):
    """LSGAN with plain SGD at rate 1 gives NaN within the first chunk of iterations: the history still
    shows the measurement it had (a dot: a line through one point draws nothing) and a line at the
    divergence naming it, which a new run (Reset) removes."""
    window._post(Session.configure, loss="lsgan", optimizer="sgd", lr_d=1.0, lr_g=1.0)
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.lanes[0].cfg.optimizer == "sgd", timeout=10000)
    qtbot.mouseClick(find(window, QPushButton, "playButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state(window) == "diverged", timeout=20000)
    history, lane = window.view.history, window.frame.lanes[0]
    assert lane.iteration < 20 and len(lane.history["step"]) < 5  # diverged before a handful of measurements
    history.flush()
    x, y = history.curves["jsd"].getData()
    assert len(x) == len(lane.history["step"]) and np.isfinite(y[0])
    assert history.curves["jsd"].opts["symbol"] == "o"
    qtbot.waitUntil(lambda: bool(getattr(history, "_divergence_items", [])), timeout=5000)
    lines = [item for item, _ in history._divergence_items]
    assert len(lines) == len(history.plots) and all(line.value() == lane.iteration for line in lines)
    assert "NaN" in lines[0].toolTip() and f"diverged at {lane.iteration}" in lines[0].label.format
    qtbot.mouseClick(window.findChild(QPushButton, "bannerResetButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state(window) == "paused" and not history._divergence_items, timeout=5000)


def test_changing_the_target_starts_a_new_run(window, qtbot):
    datasets = find(window, QComboBox, "datasetCombo")
    assert [datasets.itemData(i) for i in range(datasets.count())][:3] == ["gaussian", "bimodal", "trimodal"]
    qtbot.mouseClick(find(window, QPushButton, "stepButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: step_count(window) == 1, timeout=3000)
    datasets.setCurrentIndex(datasets.findData("trimodal"))
    qtbot.waitUntil(lambda: trainer_of(window).cfg.dataset == "trimodal" and step_count(window) == 0,
                    timeout=5000)
    qtbot.waitUntil(lambda: "trimodal" in find(window, QLabel, "targetLabel").text(), timeout=5000)


def test_a_plot_repainted_many_times_does_not_abort(qtbot):
    """PySide6 6.12.0 + pyqtgraph 0.14 aborted the process here ('none_dealloc' painting an AxisItem)."""
    from ganviz.core.config import TrainConfig
    from ganviz.core.trainer import Trainer
    from ganviz.ui.view1d import View1D

    view = View1D()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    trainer = Trainer(TrainConfig.for_mode("1d"))
    history = {"step": np.arange(0, 10.0)}
    for i in range(150):
        trainer.step(2)
        ev = trainer.evaluate()
        history = {"step": np.arange(i + 1.0), **{k: np.random.rand(i + 1) for k in ev.metrics}}
        view.show_snapshot(Snapshot(mode="1d", iteration=trainer.iteration, views=ev.picture, history=history,
                                    metrics=ev.metrics, target=f"frame {i}"))
        view.history.flush()
        view.plot.setYRange(-0.4 - 0.001 * i, 1.05)
        view.repaint()
        view.history.repaint()
    assert view.history.curves["jsd"].getData()[0].size == 150


def test_switching_mode_to_2d_starts_a_new_run_with_its_view(window, qtbot):
    modes = find(window, QComboBox, "modeCombo")
    qtbot.mouseClick(find(window, QPushButton, "stepButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: step_count(window) == 1, timeout=3000)
    modes.setCurrentIndex(modes.findData("2d"))
    qtbot.waitUntil(lambda: window.frame.mode == "2d", timeout=5000)
    assert window.stack.currentWidget().objectName() == "view2d"
    assert find(window, QComboBox, "datasetCombo").currentData() == "ring8"
    qtbot.mouseClick(find(window, QPushButton, "playButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: step_count(window) > 20, timeout=15000)
    modes.setCurrentIndex(modes.findData("1d"))
    qtbot.waitUntil(lambda: window.frame.mode == "1d" and step_count(window) == 0, timeout=5000)
    assert window.stack.currentWidget().objectName() == "view1d"


def test_an_error_inside_training_pauses_with_a_message(window, qtbot, monkeypatch):
    """Out of memory on the device (or any failure in a step) must not end the training thread."""
    from ganviz.core.trainer import Trainer

    def out_of_memory(self, n=1):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(Trainer, "step", out_of_memory)
    qtbot.mouseClick(find(window, QPushButton, "playButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(window.banner.isVisible, timeout=5000)
    assert "out of memory" in window.banner_text.text()
    assert window.worker.isRunning() and not find(window, QPushButton, "playButton").isChecked()


def test_play_during_fit_d_star_gives_g_and_lr_d_back(window, qtbot):
    trainer = trainer_of(window)
    window.worker.call(Session.step, 50)
    qtbot.waitUntil(lambda: step_count(window) == 50, timeout=10000)
    qtbot.mouseClick(find(window, QPushButton, "fitDButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state(window) == "fitting", timeout=3000)
    qtbot.wait(300)
    g_updates = trainer.g_updates
    qtbot.mouseClick(find(window, QPushButton, "playButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: trainer.g_updates > g_updates + 20, timeout=10000)
    assert trainer.cfg.freeze_g is False
    assert trainer.opt_d.param_groups[0]["lr"] == trainer.cfg.lr_d == window.cfg.lr_d


def test_1d_noise_controls_restart_the_run_and_relabel_the_mapping(window, qtbot):
    """The 1-D view's noise dimension reaches a new trainer; with 1-D noise the lines are z → G(z)."""
    from PySide6.QtWidgets import QSpinBox

    spin = find(window, QSpinBox, "noiseDimSpin")
    assert spin.value() == trainer_of(window).cfg.noise_dim == 8
    z_label = window.view.axis_labels[0]
    assert "quantile" in z_label.toPlainText()
    spin.setValue(1)
    qtbot.waitUntil(lambda: window.cfg.noise_dim == 1, timeout=3000)
    assert trainer_of(window).G.net[0].in_features == 1
    qtbot.waitUntil(lambda: z_label.toPlainText() == "z", timeout=3000)  # relabelled when the new run's frame arrives
    assert "noise dim 1" in window.statusBar().currentMessage()
    noise = find(window, QComboBox, "noiseCombo")
    noise.setCurrentIndex(noise.findData("uniform"))
    qtbot.waitUntil(lambda: window.cfg.noise == "uniform", timeout=3000)
    assert trainer_of(window).cfg.noise_dim == 1  # the other setting is kept
    qtbot.waitUntil(lambda: len(window.view.mapping.getData()[0]) > 0, timeout=3000)
    z = window.view.mapping.getData()[0][0::2]
    assert z.min() >= -1 and z.max() <= 1  # uniform noise lives on [-1, 1]


def test_history_smoothing_does_not_bridge_gaps_and_legend_lists_shown_curves(qtbot):
    from ganviz.ui.history_plot import moving_average
    from ganviz.ui.view1d import HISTORY_GROUPS_TOY, HISTORY_SERIES_TOY, HistoryPlot

    y = np.array([1.0, 3.0, np.nan, np.nan, 5.0, 7.0])
    assert np.allclose(moving_average(y, 3), [1.0, 2.0, np.nan, np.nan, 5.0, 6.0], equal_nan=True)
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    expected = [y[max(0, i - 9):i + 1].mean() for i in range(50)]
    assert np.allclose(moving_average(y, 10), expected)

    plot = HistoryPlot(HISTORY_SERIES_TOY, HISTORY_GROUPS_TOY)
    qtbot.addWidget(plot)
    steps = np.arange(5.0) * 50
    plot.update_history({"step": steps, **{s.column: np.linspace(0, 1, 5) for s in HISTORY_SERIES_TOY}})
    plot.flush()
    assert len(plot.curves["jsd"].xData) == 5
    assert plot.curves["kl"].xData is None or len(plot.curves["kl"].xData) == 0  # hidden: not drawn

    def legend_labels(group):
        return [label.text for _, label in plot.plots[group].legend.items]

    shown = [s.label for s in HISTORY_SERIES_TOY if s.group == "div" and s.visible]
    assert legend_labels("div") == shown
    plot.checkboxes["kl"].setChecked(True)
    assert len(plot.curves["kl"].xData) == 5  # drawn as soon as it is shown
    assert legend_labels("div") == [s.label for s in HISTORY_SERIES_TOY if s.group == "div"]
    plot.checkboxes["jsd"].setChecked(False)
    assert "JSD(P_data‖P_G)" not in legend_labels("div") and not plot.curves["jsd"].isVisible()


def test_a_frame_from_before_a_change_does_not_move_the_control_back(window, qtbot):
    """A frame published before the session applied the user's change must not undo the slider."""
    k = find(window, QSlider, "kSlider")
    qtbot.waitUntil(lambda: window.frame is not None, timeout=3000)
    old = window.frame  # k = 1, and older than the change posted next
    k.setValue(7)
    with window.worker._lock:
        window.worker._latest, window.worker._fresh = old, True
    window.refresh()
    assert k.value() == 7
    qtbot.waitUntil(lambda: window.frame.applied >= window._posted and window.cfg.k == 7, timeout=3000)
    assert k.value() == 7 and trainer_of(window).cfg.k == 7
