"""Issue 10's audit, as a user sees the window: what the new-user review found and a test shows fixed."""

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt


def test_a_fresh_iteration_axis_starts_at_zero_with_whole_iterations(qtbot):
    """One point at iteration 0 (a new run) must not give an axis of −0.4 … 0.4 (review defect 9)."""
    from ganviz.ui.view2d import HISTORY_GROUPS_2D, HISTORY_SERIES_2D, HistoryPlot

    plot = HistoryPlot(HISTORY_SERIES_2D, HISTORY_GROUPS_2D)
    qtbot.addWidget(plot)
    plot.show()
    plot.update_history({"step": np.zeros(1), **{s.column: np.full(1, 0.5) for s in HISTORY_SERIES_2D}})
    plot.flush()
    for group, item in plot.plots.items():
        if item.isVisible():
            qtbot.waitUntil(lambda: item.viewRange()[0][1] >= 10, timeout=3000)
            lo, hi = item.viewRange()[0]
            assert lo >= 0 and hi - lo >= 10, (group, lo, hi)


def test_a_long_status_message_is_cut_before_the_permanent_labels(window, qtbot):
    """The status message ends before the iteration label and the Record button (review defect 11:
    "clipped by the permanent iteration label"); the whole of it is in the tooltip and the log."""
    from PySide6.QtWidgets import QWidget

    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.lanes[0].iteration >= 0, timeout=5000)
    window.play_button.click()
    qtbot.waitUntil(lambda: window.frame.state == "running" and window.frame.lanes[0].iteration > 100, timeout=10000)
    bar = window.statusBar()
    permanent = [w for w in bar.findChildren(QWidget) if w.parent() is bar and w.isVisible() and w.x() > 0]
    qtbot.waitUntil(lambda: len(permanent) >= 3 and all(w.width() > 0 for w in permanent), timeout=3000)
    text = "Fit D* done: " + "the bound stays far below the JSD because D cannot represent D* " * 3
    window.say(text)
    qtbot.waitUntil(lambda: bar.currentMessage() != "", timeout=3000)
    window.play_button.click()
    qtbot.waitUntil(lambda: window.frame.state == "paused", timeout=5000)
    qtbot.waitUntil(lambda: window.rate_label.text().endswith("paused"), timeout=3000)
    shown = bar.fontMetrics().horizontalAdvance(bar.currentMessage())
    first = min(w.x() for w in permanent)
    assert bar.currentMessage().endswith("…") and shown + 8 < first, (shown, first)
    assert text in [e.text for e in window.log_entries()] and bar.toolTip() == text


@pytest.mark.parametrize("size", [(1280, 820), (1024, 700)])
def test_slow_motion_and_step_d_bring_the_phase_line_and_the_model_overview_into_view(window, qtbot, size):
    """Turning slow motion on (or Step D) scrolls the side panel so the phase line and the model
    overview can be read: they sat below the fold at 1280×820 and out of sight at 1024×700."""
    window.resize(*size)
    qtbot.waitUntil(lambda: window.frame is not None, timeout=5000)
    viewport = window.panel_scroll.viewport()

    def in_view(widget) -> bool:
        top = widget.mapTo(viewport, widget.rect().topLeft()).y()
        return top >= 0 and top + widget.height() <= viewport.height()

    panel = window.phase_panel
    window.panel_scroll.verticalScrollBar().setValue(0)
    panel.check.setChecked(True)
    qtbot.waitUntil(lambda: in_view(panel.label) and in_view(panel.overview), timeout=3000)
    panel.check.setChecked(False)
    window.panel_scroll.verticalScrollBar().setValue(0)
    window.step_d_button.click()
    qtbot.waitUntil(lambda: in_view(panel.label) and in_view(panel.overview), timeout=3000)
    qtbot.waitUntil(lambda: "D update" in panel.label.text(), timeout=5000)


class _ShiftedG(torch.nn.Module):
    """A 'generator' that returns exact samples of P_data moved by `offset` (whatever z is)."""

    def __init__(self, task, offset):
        super().__init__()
        self.task, self.offset = task, torch.tensor(offset)
        self.gen = torch.Generator().manual_seed(1)

    def forward(self, z):
        return self.task.sample_real(len(z), self.gen) + self.offset


def test_the_d_heatmap_covers_the_fakes_that_leave_the_region():
    """Review defect 15: D's heatmap was drawn on the target's region only, so there was no D where
    the fakes were. Now it grows to hold them, and returns to the region when they come back."""
    from ganviz.core.config import TrainConfig
    from ganviz.core.toy2d import Toy2DTask

    task = Toy2DTask(TrainConfig.for_mode("2d", dataset="ring8"), torch.device("cpu"))
    D, gen = task.build_discriminator(), torch.Generator().manual_seed(0)
    G = _ShiftedG(task, (0.0, 0.0))
    with torch.no_grad():
        inside = task.evaluate(G, D, gen).picture
    assert tuple(inside.d.extent) == tuple(task.region)
    G.offset = torch.tensor((2.5, -1.0))
    with torch.no_grad():
        outside = task.evaluate(G, D, gen).picture
    x0, x1, y0, y1 = outside.d.extent
    fakes = outside.fake.points
    held = (fakes[:, 0] >= x0) & (fakes[:, 0] <= x1) & (fakes[:, 1] >= y0) & (fakes[:, 1] <= y1)
    assert held.mean() >= 0.99 and x1 - x0 > task.region[1] - task.region[0]
    assert np.isfinite(outside.d.values).all()
    G.offset = torch.tensor((0.0, 0.0))
    with torch.no_grad():
        back = task.evaluate(G, D, gen).picture
    assert tuple(back.d.extent) == tuple(task.region)


def test_d_g_s_and_r_work_with_the_focus_in_the_noise_dimension_box(window, qtbot):
    """Review defect 4: after typing in a spin box the training keys did nothing. D and G step one
    phase, S one iteration, R resets; the digit typed before them still counts."""
    qtbot.waitUntil(lambda: window.frame is not None, timeout=5000)
    spin = window.view.noise.dim_spin
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "2")
    qtbot.keyClick(spin, Qt.Key.Key_D)
    qtbot.waitUntil(lambda: window.frame.lanes[0].cfg.noise_dim == 2 and window.frame.lanes[0].phase_kind == "d",
                    timeout=5000)
    assert window.frame.lanes[0].iteration == 0 and spin.text() == "2"
    qtbot.keyClick(spin, Qt.Key.Key_G)
    qtbot.waitUntil(lambda: window.frame.lanes[0].iteration == 1 and window.frame.lanes[0].phase_kind == "g",
                    timeout=5000)
    qtbot.keyClick(spin, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window.frame.lanes[0].iteration == 2, timeout=5000)
    qtbot.keyClick(spin, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: window.frame.lanes[0].iteration == 0, timeout=5000)
    assert spin.text() == "2" and window.frame.lanes[0].cfg.noise_dim == 2


def test_the_now_box_never_shows_the_previous_modes_numbers_after_a_mode_switch(window, qtbot):
    """Review defect 17: while the new mode's run was being built the "Now" box went on showing the
    old run's iteration and JSD. It shows "—" until the new mode's first frame."""
    window.play_button.click()
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.lanes[0].iteration > 50, timeout=10000)
    window.play_button.click()
    qtbot.waitUntil(lambda: window.frame.state == "paused" and window.jsd_label.text() != "—", timeout=5000)
    old = (window.step_label.text(), window.jsd_label.text())
    window.mode_combo.setCurrentIndex(window.mode_combo.findData("2d"))
    seen = []

    def new_mode_shown() -> bool:
        seen.append((window.frame.mode, window.step_label.text(), window.jsd_label.text()))
        return window.frame.mode == "2d"

    qtbot.waitUntil(new_mode_shown, timeout=20000)
    stale = [s for s in seen if s[0] == "1d" and (s[1], s[2]) == old]
    assert not stale, stale
    assert window.step_label.text() == "0" and window.jsd_label.text() != "—"


def test_fit_d_star_on_images_says_what_it_means_there():
    """Review defect 16: Fit D* on MNIST ended with the bare value, not what a fit means for images."""
    from ganviz.core.config import TrainConfig
    from ganviz.core.session import fit_message

    text = fit_message({"v": -0.9, "d_real": 0.93, "d_fake": 0.05}, TrainConfig.for_mode("mnist"))
    assert "no JSD" in text and "D(x) on real" in text and "0.93" in text and "0.05" in text


def test_pressing_play_does_not_widen_the_side_panel(window, qtbot):
    """"❚❚ Pause (Space)" is wider than "▶ Play (Space)": the side panel grew and every plot jumped
    sideways each time Play was pressed."""
    window.resize(1280, 820)
    qtbot.waitUntil(lambda: window.frame is not None, timeout=5000)
    before = window.panel_scroll.minimumSizeHint().width()  # the panel's width: the views take the rest
    window.play_button.click()
    qtbot.waitUntil(lambda: window.frame.state == "running" and window.play_button.text().startswith("❚❚"),
                    timeout=5000)
    assert window.panel_scroll.minimumSizeHint().width() == before


class _SpikeG(torch.nn.Module):
    """A 1-D 'generator' whose P_G is a narrow spike at `at` (far above the plot's top)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def forward(self, z):
        return self.at + 0.002 * z[:, :1]


@pytest.mark.parametrize("at", [-4.5, 0.0, 4.5])
@pytest.mark.parametrize("width", [1024, 700])
def test_the_off_scale_note_of_p_g_keeps_clear_of_the_legend_and_the_title(qtbot, at, width):
    """"↑ P_G peaks at …" was drawn under the legend (a spike at x < −2.5, e.g. a folding 1-D G) or
    over the target's title (a narrow window), where neither could be read."""
    from ganviz.core.config import TrainConfig
    from ganviz.core.snapshot import Snapshot
    from ganviz.core.toy1d import Toy1DTask
    from ganviz.ui.view1d import View1D

    task = Toy1DTask(TrainConfig.for_mode("1d"), torch.device("cpu"))
    with torch.no_grad():
        pic = task.evaluate(_SpikeG(at), task.build_discriminator(), torch.Generator().manual_seed(0)).picture
    view = View1D()
    qtbot.addWidget(view)
    view.resize(width, 560)
    view.show()
    qtbot.waitUntil(lambda: view.plot.vb.width() > 0, timeout=3000)
    view.show_snapshot(Snapshot(mode="1d", views=pic, target=task.describe()))
    qtbot.waitUntil(lambda: view.off_scale.textItem.toPlainText().startswith("↑ P_G peaks"), timeout=3000)
    view.grab()  # painted, as on screen: text items place themselves when drawn
    note = view.off_scale.sceneBoundingRect()
    assert not note.intersects(view.plot.legend.sceneBoundingRect())
    assert not note.intersects(view.title.sceneBoundingRect())
    box = view.plot.vb.sceneBoundingRect()
    assert box.left() <= note.left() and note.right() <= box.right()


@pytest.mark.parametrize("width", [1280, 700])
def test_the_1d_legend_lies_off_the_plot_and_is_not_clipped(qtbot, width):
    """The 1-D legend sat in the plot's top-left corner, over D and D* where they are near 1 (e.g. after
    Fit D* with 1-D noise). It now lies under the x axis, whole, at a 1024-px window's plot width too."""
    from ganviz.ui.view1d import View1D

    view = View1D()
    qtbot.addWidget(view)
    view.resize(width, 560)
    view.show()
    qtbot.waitUntil(lambda: view.plot.vb.width() > 0, timeout=3000)
    view.grab()
    legend = view.plot.legend.sceneBoundingRect()
    assert not legend.intersects(view.plot.vb.sceneBoundingRect())
    assert view.plot_widget.sceneRect().contains(legend) and legend.width() > 0
    assert view.plot.legend.getLabel(view.d_curve).text == "D(x)"


def test_slow_motion_in_2d_shows_the_gradient_arrows(qtbot):
    """Issue 10: in 2-D slow motion shows the samples move with the gradient arrows that push them; the
    arrows layer is off by default (a still picture reads better without it), so slow motion turns it on."""
    from ganviz.ui import MainWindow

    window = MainWindow(mode="2d")
    qtbot.addWidget(window)
    window.show()
    try:
        qtbot.waitUntil(lambda: window.frame is not None and window.frame.mode == "2d", timeout=10000)
        arrows = window.view.layer_boxes["showArrows"]
        assert not arrows.isChecked()
        window.phase_panel.check.setChecked(True)
        qtbot.waitUntil(lambda: arrows.isChecked() and window.view.arrows.isVisible(), timeout=3000)
        qtbot.waitUntil(lambda: window.view.arrows.getData()[0] is not None and len(window.view.arrows.getData()[0]) > 0,
                        timeout=5000)
    finally:
        window.close()
        assert window.worker.wait(5000)


def test_the_dirac_gan_opens_at_a_speed_that_can_be_followed(qtbot):
    """Issue 10: the toy modes open slow enough to follow (max one click away); the Dirac-GAN opened
    at max speed, its spiral drawn in under a second."""
    from ganviz.ui import MainWindow

    window = MainWindow(mode="dirac")
    qtbot.addWidget(window)
    try:
        assert window.speed_combo.currentData() == 100.0
        qtbot.waitUntil(lambda: window.worker.session.max_rate == 100.0, timeout=5000)
    finally:
        window.close()
        assert window.worker.wait(5000)


def test_the_dirac_curves_keep_the_width_of_their_column(window, qtbot):
    """At 1024×700 the Dirac-GAN's curves shared their narrow column with their legends (about half
    each); the legends now go above the plots, as in 2-D and MNIST."""
    window.resize(1024, 700)
    window.mode_combo.setCurrentIndex(window.mode_combo.findData("dirac"))
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.mode == "dirac", timeout=10000)
    history = window.view.history
    qtbot.waitUntil(lambda: history.layout_widget.width() > 0, timeout=3000)
    window.grab()
    for group, plot in history.plots.items():
        if plot.isVisible():
            assert plot.width() >= 0.8 * history.layout_widget.width(), (group, plot.width())


def test_help_keys_lists_every_training_key(window, qtbot):
    """Help › Keys named Space, S, R and F but not D and G (Step D, Step G)."""
    help_menu = [a.menu() for a in window.menuBar().actions() if a.text() == "&Help"][0]
    [a for a in help_menu.actions() if a.text() == "Keys"][0].trigger()
    text = window.log_entries()[-1].text
    for key in ("Space", "S one iteration", "R reset", "F fit D*", "D one D update", "G one G update", "Ctrl+Q"):
        assert key in text, key


@pytest.mark.parametrize("size", [(1280, 820), (1024, 700)])
def test_every_g_loss_reads_whole_in_its_box(window, qtbot, size):
    """The G loss box showed "non-saturating  −lc": its 140-px field cut every loss's formula."""
    window.resize(*size)
    qtbot.waitUntil(lambda: window.frame is not None and window.loss_combo.width() > 0, timeout=5000)
    window.grab()
    combo = window.loss_combo
    widest = max(combo.fontMetrics().horizontalAdvance(combo.itemText(i)) for i in range(combo.count()))
    assert combo.width() >= widest + 24, (combo.width(), widest)


def test_a_short_curve_panel_keeps_its_value_labels_apart(qtbot):
    """At 1024×700 the 1-D loss panel is ~35 px tall and pyqtgraph put four labels (0.8 0.6 0.4 0.2)
    on it, one over the other. Major labels now keep a label's height apart."""
    from ganviz.ui.history_plot import LABEL_PX
    from ganviz.ui.view1d import HISTORY_GROUPS_TOY, HISTORY_SERIES_TOY, HistoryPlot

    plot = HistoryPlot(HISTORY_SERIES_TOY, HISTORY_GROUPS_TOY)
    qtbot.addWidget(plot)
    for group, item in plot.plots.items():
        axis = item.getAxis("left")
        lo, hi = 0.0, 1.0
        for size in (35.0, 60.0, 300.0):
            major = axis.tickValues(lo, hi, size)[0][1]
            assert len(major) >= 2 or size < 2 * LABEL_PX, (group, size, major)
            assert (len(major) - 1) * LABEL_PX <= size, (group, size, major)
