"""The first screen reads on its own: shortcuts from any focus, Quit, exact learning rates, Restore
defaults, the curves' log scale, layers' key, and a layout that holds at 1024×700."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QCheckBox, QLabel, QLineEdit, QPushButton, QSpinBox, QToolButton, QWidget

from ganviz.core.config import TrainConfig


def find(window, cls, name):
    widget = window.findChild(cls, name)
    assert widget is not None, name
    return widget


def lane_cfg(window):
    return window.worker.session.lanes[0].cfg


def settled(window) -> bool:
    return window.frame is not None and window.frame.applied >= window._posted


def test_start_here_line_says_what_to_press_and_can_be_dismissed(window, qtbot):
    label = find(window, QLabel, "startHereLabel")
    assert label.isVisible() and "Play" in label.text() and "P_data" in label.text()
    qtbot.mouseClick(find(window, QToolButton, "startHereCloseButton"), Qt.MouseButton.LeftButton)
    assert not label.isVisible()
    for name, key in (("playButton", "Space"), ("stepButton", "(S)"), ("resetButton", "(R)"), ("fitDButton", "(F)")):
        assert key in find(window, QPushButton, name).text()


def test_space_in_the_seed_spin_box_starts_training_and_keeps_its_value(window, qtbot):
    seed = find(window, QSpinBox, "seedSpin")
    qtbot.waitUntil(lambda: window.frame is not None, timeout=5000)
    seed.setFocus()
    qtbot.waitUntil(seed.hasFocus, timeout=2000)
    seed.lineEdit().selectAll()
    qtbot.keyClicks(seed, "7")  # digits still type
    assert seed.value() == 7 or seed.text() == "7"
    qtbot.keyClick(seed, Qt.Key.Key_Space)
    assert seed.text() == "7"
    qtbot.waitUntil(lambda: window.frame.state == "running" and window.frame.lanes[0].iteration > 0, timeout=5000)
    qtbot.waitUntil(lambda: lane_cfg(window).seed == 7, timeout=5000)  # the typed seed counted too
    qtbot.keyClick(seed, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.frame.state == "paused", timeout=5000)
    assert seed.value() == 7 and seed.text() == "7"


def test_ctrl_q_closes_the_window(window, qtbot):
    assert "Quit" in [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert window.worker.wait(5000)


def test_a_typed_learning_rate_reaches_the_lane_exactly(window, qtbot):
    edit = find(window, QLineEdit, "lrDEdit")
    find(window, QWidget, "lrDSlider").setValue(123)  # moved first: 3e-4 must still be reachable
    qtbot.waitUntil(lambda: lane_cfg(window).lr_d != 3e-4, timeout=3000)
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "3e-4")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: lane_cfg(window).lr_d == 3e-4, timeout=3000)
    assert window.worker.session.lanes[0].trainer.opt_d.param_groups[0]["lr"] == 3e-4
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "2e-6")  # below 1e-5: refused, the rate stays
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert "between" in window.statusBar().currentMessage() and float(edit.text()) == 3e-4
    assert lane_cfg(window).lr_d == 3e-4


def test_restore_defaults_sets_the_lane_back_to_its_modes_defaults(window, qtbot):
    find(window, QWidget, "kSlider").setValue(7)
    find(window, QWidget, "lrGSlider").setValue(400)
    qtbot.waitUntil(lambda: lane_cfg(window).k == 7 and lane_cfg(window).lr_g > 0.01, timeout=3000)
    qtbot.mouseClick(find(window, QPushButton, "restoreDefaultsButton"), Qt.MouseButton.LeftButton)
    d = TrainConfig.for_mode("1d")
    qtbot.waitUntil(lambda: lane_cfg(window).k == d.k and lane_cfg(window).lr_g == d.lr_g, timeout=3000)
    qtbot.waitUntil(lambda: settled(window) and find(window, QWidget, "kSlider").value() == d.k, timeout=3000)
    assert "Restored defaults" in window.statusBar().currentMessage()


def test_log_scale_check_puts_the_divergences_on_a_log_axis(window, qtbot):
    check = find(window.view, QCheckBox, "logScaleCheck")
    plot = window.view.history.plots["div"]
    assert not plot.getAxis("left").logMode
    check.setChecked(True)
    assert plot.getAxis("left").logMode
    check.setChecked(False)
    assert not plot.getAxis("left").logMode


def test_the_iteration_axis_has_no_si_prefix(window):
    for plot in window.view.history.plots.values():
        assert not plot.getAxis("bottom").autoSIPrefix


def test_the_2d_key_lists_every_layer_and_centres_can_be_hidden(window, qtbot):
    window.mode_combo.setCurrentIndex(window.mode_combo.findData("2d"))
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.mode == "2d" and settled(window), timeout=10000)
    view = window.view
    view.layer_boxes["showArrows"].setChecked(True)
    labels = " | ".join(view.legend_labels())
    for layer in ("real", "generated", "G(noise grid)", "∇", "mode centres", "D = ½"):
        assert layer in labels
    centres = find(view.extra_controls(), QCheckBox, "showCentres")
    centres.setChecked(False)
    assert not view.centres.isVisible() and "mode centres" not in " | ".join(view.legend_labels())
    assert "mode" in window.statusBar().toolTip() or "defaults" in window.statusBar().currentMessage()


def _too_narrow(window):
    bad = []
    for w in window.findChildren(QWidget):
        if not w.isVisible() or w.window() is not window:
            continue
        hint = w.minimumSizeHint()
        if hint.isValid() and w.width() + 1 < hint.width() and w.sizePolicy().horizontalPolicy() != 0:
            bad.append(f"{type(w).__name__} {w.objectName()!r} {w.width()} < {hint.width()}")
    return bad


@pytest.mark.parametrize("mode", ["1d", "2d", "mnist"])
def test_layout_at_1024x700_keeps_every_widget_and_the_main_picture(window, qtbot, mode):
    if mode != "1d":
        window.mode_combo.setCurrentIndex(window.mode_combo.findData(mode))
        qtbot.waitUntil(lambda: window.frame is not None and window.frame.mode == mode, timeout=20000)
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024 and window.height() == 700, timeout=3000)
    qtbot.wait(100)
    QApplication.processEvents()
    assert _too_narrow(window) == []
    window.bound_label.setText("-0.0280 (negative: D far from D*)")  # the longest text it shows
    QApplication.processEvents()
    panel = window.panel_scroll
    assert panel.widget().minimumSizeHint().width() <= panel.viewport().width()  # the side panel is not cut off
    main = {"1d": "plot_widget", "2d": "plot_widget", "mnist": "grid_widget"}[mode]
    widget = getattr(window.view, main)
    share = widget.width() / window.width()
    assert share >= 0.40, share
    checked = sum(1 for w in window.findChildren(QWidget) if w.isVisible())
    assert checked > 50  # the check above looked at the whole window
    before = widget.width()
    collapse = find(window, QToolButton, "collapsePanelButton")
    collapse.click()
    qtbot.waitUntil(lambda: not window.panel_scroll.isVisible(), timeout=2000)
    qtbot.waitUntil(lambda: widget.width() > before, timeout=3000)  # the room goes to the pictures
    collapse.click()
    qtbot.waitUntil(window.panel_scroll.isVisible, timeout=2000)


def test_the_1d_d_axis_says_when_d_is_not_a_probability(window, qtbot):
    view = window.view
    assert "probability" in view.plot.getAxis("right").labelText
    assert "density" in view.plot.getAxis("left").labelText
    assert all(v >= 0 for _, values in view.density_axis.tickValues(-0.4, 1.1, 400) for v in values)  # none on z band
    loss = window.loss_combo
    loss.setCurrentIndex(loss.findData("wgan"))
    qtbot.waitUntil(lambda: settled(window) and view.d_axis.span != (0.0, 1.0), timeout=10000)
    assert "not a probability" in view.plot.getAxis("right").labelText
    lo, hi = view.d_axis.span
    assert view.d_axis.tickStrings([0.0, 1.0], 1, 1) == [f"{lo:.3g}", f"{hi:.3g}"]


def test_hiding_the_heatmap_does_not_move_the_plane(qtbot):
    from ganviz.ui.view2d import View2D

    view = View2D()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(100)  # the first layout settles
    before = view.viewbox.sceneBoundingRect()
    view.layer_boxes["showHeatmap"].setChecked(False)
    qtbot.wait(50)
    assert view.viewbox.sceneBoundingRect() == before and not view.heatmap.isVisible()


def test_curves_get_a_fresh_iteration_axis_and_hide_panels_that_do_not_apply(qtbot):
    import numpy as np

    from ganviz.ui.view2d import HISTORY_GROUPS_2D, HISTORY_SERIES_2D, HistoryPlot

    plot = HistoryPlot(HISTORY_SERIES_2D, HISTORY_GROUPS_2D)
    qtbot.addWidget(plot)
    plot.show()

    def history(n, modes):
        steps = np.arange(n) * 50.0
        h = {"step": steps, **{s.column: np.linspace(0.1, 1, n) for s in HISTORY_SERIES_2D}}
        if not modes:
            h["modes"] = h["hq"] = np.full(n, np.nan)  # a target that is not a mixture
        return h

    plot.update_history(history(200, modes=True))
    plot.flush()
    assert plot.plots["modes"].isVisible() and plot.checkboxes["modes"].isVisibleTo(plot)
    first = plot.plots["div"]
    qtbot.waitUntil(lambda: first.viewRange()[0][1] > 5000, timeout=3000)
    plot.clear()  # a new run
    plot.update_history(history(5, modes=False))
    plot.flush()
    qtbot.waitUntil(lambda: -50 < first.viewRange()[0][0] and first.viewRange()[0][1] < 1000, timeout=3000)
    assert not plot.plots["modes"].isVisible() and not plot.checkboxes["modes"].isVisibleTo(plot)
    assert plot.plots["other"].isVisible()  # HQ is NaN, but the losses apply
    assert not plot.plots["div"].getAxis("bottom").autoSIPrefix
