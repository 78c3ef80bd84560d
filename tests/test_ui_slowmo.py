"""The window's Step D / Step G, slow motion, Fit D* band, divergence banner with Reset with defaults."""

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QPushButton

from ganviz.core.session import Session
from ganviz.ui.phase import ModelOverview


def _lane(window):
    return window.worker.session.lanes[0]


def _weights(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(before, module):
    return all(torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_step_d_and_step_g_buttons_change_only_their_network(window, qtbot):
    assert window.step_d_button.objectName() == "stepDButton" and "(D)" in window.step_d_button.text()
    assert window.step_g_button.objectName() == "stepGButton" and "(G)" in window.step_g_button.text()
    qtbot.waitUntil(lambda: window.frame is not None, timeout=5000)
    t = _lane(window).trainer
    g0, d0 = _weights(t.G), _weights(t.D)
    qtbot.mouseClick(window.findChild(QPushButton, "stepDButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.frame.lanes[0].phase.startswith("D update 1 of 1"), timeout=5000)
    assert _same(g0, t.G) and not _same(d0, t.D) and window.frame.lanes[0].iteration == 0
    label = window.findChild(QLabel, "phaseLabel")
    assert "D update 1 of 1" in label.text() and "ascend V(G,D)" in label.text()
    assert window.findChild(ModelOverview, "modelOverview").phase == "d"
    d1 = _weights(t.D)
    qtbot.mouseClick(window.findChild(QPushButton, "stepGButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.frame.lanes[0].phase.startswith("G update"), timeout=5000)
    assert _same(d1, t.D) and not _same(g0, t.G) and window.frame.lanes[0].iteration == 1
    assert window.findChild(ModelOverview, "modelOverview").phase == "g"


def test_slow_motion_phases_in_order_for_k_2(window, qtbot):
    window.worker.call(Session.set, 0, k=2)
    window.phase_panel.pace.setCurrentIndex(window.phase_panel.pace.findData(10.0))
    window.findChild(QCheckBox, "slowMotionCheck").setChecked(True)
    seen = []

    def record():
        if window.frame is not None and window.frame.lanes[0].phase:
            head = window.frame.lanes[0].phase.split(":")[0]
            if not seen or seen[-1] != head:
                seen.append(head)
        return len(seen) >= 4

    qtbot.mouseClick(window.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(record, timeout=15000)
    qtbot.mouseClick(window.play_button, Qt.MouseButton.LeftButton)
    assert seen[:4] == ["D update 1 of 2", "D update 2 of 2", "G update", "D update 1 of 2"]


def test_fit_d_star_band_and_counts(window, qtbot):
    window.worker.call(Session.step, 30)
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.lanes[0].iteration == 30, timeout=10000)
    qtbot.mouseClick(window.fit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.frame.state == "fitting", timeout=5000)
    qtbot.waitUntil(lambda: window.frame.lanes[0].fit_spans and window.frame.lanes[0].fit_spans[0][1] > 300,
                    timeout=20000)
    qtbot.mouseClick(window.play_button, Qt.MouseButton.LeftButton)  # ends the fit, trains again
    qtbot.waitUntil(lambda: window.frame.lanes[0].iteration > 60, timeout=10000)
    qtbot.mouseClick(window.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.frame.state == "paused", timeout=5000)
    (start, count), = window.frame.lanes[0].fit_spans
    assert start == 30 and count > 300
    history = window.view.history
    qtbot.waitUntil(lambda: len(getattr(history, "_fit_span_items", [])) == len(history.plots), timeout=5000)
    for line, _plot in history._fit_span_items:
        assert line.value() == 30
    assert f"{count:,} D updates" in history._fit_span_items[0][0].label.format


def test_finite_blow_up_shows_the_banner_and_reset_with_defaults(window, qtbot):
    window.worker.call(Session.configure, mode="2d")  # its evaluation stays finite as G blows up
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.mode == "2d", timeout=10000)
    window.worker.call(Session.set, window.frame.lanes[0].id, lr_d=0.5, k=3)

    def blow_up(session):
        with torch.no_grad():
            for p in session.lanes[0].trainer.G.parameters():
                p.mul_(1e6)

    window.worker.call(blow_up)
    qtbot.mouseClick(window.step_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(window.banner.isVisible, timeout=10000)
    assert "diverged" in window.banner_text.text() and window.frame.lanes[0].diverged_kind == "range"
    assert window.frame.lanes[0].picture is not None  # the last good picture stays
    qtbot.mouseClick(window.findChild(QPushButton, "bannerDefaultsButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.banner.isVisible() and window.frame.lanes[0].state == "ok", timeout=5000)
    assert window.frame.lanes[0].cfg.lr_d == 3e-4 and window.frame.lanes[0].cfg.k == 1
    assert window.frame.mode == "2d" and window.frame.lanes[0].cfg.dataset == "ring8"


@pytest.mark.parametrize("width", [220, 300, 420])
def test_model_overview_labels_fit_their_boxes(qtbot, width):
    from PySide6.QtGui import QFontMetricsF

    from ganviz.ui.phase import BOXES

    overview = ModelOverview()
    qtbot.addWidget(overview)
    overview.resize(width, 70)
    metrics = QFontMetricsF(overview._font())
    rects = overview.rects()
    for key, label, *_ in BOXES:
        assert metrics.horizontalAdvance(label) <= rects[key].width(), (key, width)
        assert 0 <= rects[key].left() and rects[key].right() <= width
