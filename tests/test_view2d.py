"""The 2-D view: snapshots update its items, its controls ask for new runs, drawing makes a target."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QCheckBox, QPushButton  # noqa: E402

from ganviz.core.config import TrainConfig  # noqa: E402
from ganviz.core.snapshot import Snapshot  # noqa: E402
from ganviz.core.trainer import Trainer  # noqa: E402
from ganviz.ui.view2d import View2D, arrow_segments, half_contour, resample_stroke  # noqa: E402


@pytest.fixture
def view(qtbot):
    w = View2D()
    qtbot.addWidget(w)
    w.resize(900, 700)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture(scope="module")
def evaluation():
    tr = Trainer(TrainConfig.for_mode("2d", hidden=16))
    tr.step(5)
    return tr, tr.evaluate(views=True)


def snapshot(tr, ev, iteration=5):
    return Snapshot(mode="2d", iteration=iteration, metrics=ev.metrics, views=ev.picture, target=tr.task.describe(),
                    history={"step": np.array([0.0, 5.0]), "jsd": np.array([0.6, 0.5]), "modes": np.array([0.0, 1.0])})


def test_snapshot_updates_every_layer(view, evaluation):
    tr, ev = evaluation
    view.layer_boxes["showArrows"].setChecked(True)
    view.show_snapshot(snapshot(tr, ev))
    pic = ev.picture
    assert view.heatmap.image.shape == pic.d.values.shape
    np.testing.assert_array_equal(view.heatmap.image, pic.d.values)
    assert tuple(view.heatmap.getLevels()) == (0.0, 1.0)
    rect = view.heatmap.mapRectToParent(view.heatmap.boundingRect())
    x0, x1, y0, y1 = pic.d.extent
    assert (rect.left(), rect.right(), rect.top(), rect.bottom()) == pytest.approx((x0, x1, y0, y1))
    assert len(view.real.data) == len(pic.real.points) and len(view.fake.data) == len(pic.fake.points)
    np.testing.assert_allclose(view.fake.data["x"], pic.fake.points[:, 0])
    n_lines, n_points, _ = pic.manifold.lines.shape
    assert len(view.manifold.xData) == n_lines * n_points
    assert len(view.arrows.xData) <= 6 * len(pic.arrows.origins)  # shaft and two barbs per arrow shown
    assert len(view.centres.data) == 8
    assert "ring8" in view.readout.toPlainText() and "JSD" in view.readout.toPlainText()
    view.clear()
    assert view.heatmap.image is None and len(view.fake.data) == 0


def test_layers_toggle(view, evaluation):
    view.show_snapshot(snapshot(*evaluation))
    assert view.arrows.xData is None or len(view.arrows.xData) == 0  # off by default, not computed
    view.layer_boxes["showArrows"].setChecked(True)
    assert len(view.arrows.xData) > 0  # drawn from the latest snapshot at once
    for name in ("showHeatmap", "showReal", "showFake", "showManifold", "showArrows"):
        box = view.extra_controls().findChild(QCheckBox, name)
        items = view._layers[name]
        box.setChecked(False)
        assert not any(item.isVisible() for item in items)
        box.setChecked(True)
        assert all(item.isVisible() for item in items)


def test_controls_ask_for_a_restart(view, qtbot):
    controls = view.extra_controls()
    assert controls.findChild(QPushButton, "drawButton") is view.draw_button
    with qtbot.waitSignal(view.restart_requested) as sig:
        view.noise_dim_spin.setValue(5)
    assert sig.args == [{"noise_dim": 5}]
    with qtbot.waitSignal(view.restart_requested) as sig:
        view.noise_combo.setCurrentIndex(view.noise_combo.findData("uniform"))
    assert sig.args == [{"noise": "uniform"}]
    with qtbot.waitSignal(view.restart_requested) as sig:
        view.spread_spin.setValue(2.5)
    assert sig.args == [{"spread": 2.5}]
    assert view.config_changes() == {"noise_dim": 5, "noise": "uniform", "spread": 2.5}
    TrainConfig.for_mode("2d", **view.config_changes())  # valid settings
    with qtbot.assertNotEmitted(view.restart_requested):
        view.sync_to_config(TrainConfig.for_mode("2d", noise_dim=3))
    assert view.config_changes() == {"noise_dim": 3, "noise": "gaussian", "spread": 1.0}


def send_mouse(widget, kind, pos, buttons):
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    ev = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def to_viewport(view, x, y) -> QPoint:
    return view.plot_widget.mapFromScene(view.viewbox.mapViewToScene(QPointF(x, y)))


def drag(view, qtbot, points):
    port = view.plot_widget.viewport()
    left = Qt.MouseButton.LeftButton
    send_mouse(port, QEvent.Type.MouseButtonPress, to_viewport(view, *points[0]), left)
    for p in points[1:]:
        qtbot.wait(25)  # pyqtgraph drops mouse moves closer together than its rate limit
        send_mouse(port, QEvent.Type.MouseMove, to_viewport(view, *p), left)
    send_mouse(port, QEvent.Type.MouseButtonRelease, to_viewport(view, *points[-1]), Qt.MouseButton.NoButton)


def test_drawing_with_the_mouse_makes_a_target(view, qtbot, evaluation):
    view.show_snapshot(snapshot(*evaluation))  # frames the plot on [-1.5, 1.5]²
    qtbot.wait(50)  # let the layout settle
    before = view.viewbox.viewRange()
    view.extra_controls().findChild(QPushButton, "drawButton").click()
    assert view.viewbox.drawing
    stroke = [(-1.0, -1.0), (-0.5, -0.5), (0.0, 0.0), (0.5, 0.5), (1.0, 0.8)]
    drag(view, qtbot, stroke)
    assert view.viewbox.viewRange() == before  # drawing does not pan
    assert len(view.viewbox.strokes) == 1
    points = view.drawn_points()
    assert len(points) > 50  # resampled every 1% of the view's width along a ~2.8-long stroke
    assert np.abs(points - [-1, -1]).sum(1).min() < 0.1 and np.abs(points - [1, 0.8]).sum(1).min() < 0.1
    with qtbot.waitSignal(view.restart_requested) as sig:
        view.extra_controls().findChild(QPushButton, "applyDrawButton").click()
    change = sig.args[0]
    assert change["dataset"] == "drawn" and len(change["extra"]["points"]) == len(points)
    # The request is a valid run.
    tr = Trainer(TrainConfig.for_mode("2d", hidden=8, **change))
    assert tr.task.target.centres.shape == (len(points), 2)
    # Applied: the strokes go (the new target's samples show it), drawing ends and panning is back.
    assert len(view.drawn_points()) == 0 and not view.viewbox.drawing and not view.draw_button.isChecked()
    assert len(view.stroke_curve.getData()[0] or ()) == 0
    view.draw_button.click()
    drag(view, qtbot, stroke)
    view.extra_controls().findChild(QPushButton, "clearDrawButton").click()
    assert len(view.drawn_points()) == 0
    view.draw_button.click()
    assert not view.viewbox.drawing
    view.draw_button.click()
    drag(view, qtbot, stroke)
    view.clear()  # a new run (another target, another mode): the strokes go too
    assert len(view.drawn_points()) == 0 and not view.viewbox.drawing


def test_applying_an_empty_drawing_only_says_so(view, qtbot):
    with qtbot.assertNotEmitted(view.restart_requested), qtbot.waitSignal(view.message) as msg:
        view.apply_drawing()
    assert "Nothing drawn" in msg.args[0]


def test_a_click_draws_one_point(view, qtbot, evaluation):
    view.show_snapshot(snapshot(*evaluation))
    view.draw_button.setChecked(True)
    pos = to_viewport(view, 0.5, -0.5)
    qtbot.mouseClick(view.plot_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    points = view.drawn_points()
    assert points.shape == (1, 2) and np.allclose(points[0], [0.5, -0.5], atol=0.05)


def test_load_points_file(view, qtbot, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    with qtbot.assertNotEmitted(view.restart_requested), \
            qtbot.waitSignal(view.message, check_params_cb=lambda m: "Could not" in m) as msg:
        view.load_points_file(str(bad))
    assert "bad.csv" in msg.args[0] and "at least" in msg.args[0] and not view.loading_points
    good = tmp_path / "good.npy"
    np.save(good, np.random.default_rng(0).normal(size=(50, 2)))
    with qtbot.waitSignal(view.restart_requested) as sig:
        view.load_points_file(str(good))
    assert sig.args == [{"dataset": str(good)}] and not view.loading_points


def test_half_contour_of_a_disc():
    n = 128
    c = (np.arange(n) + 0.5) / n * 4 - 2
    x, y = np.meshgrid(c, c)
    d = (1 / (1 + np.exp(-(1 - np.hypot(x - 0.3, y)) * 5))).astype(np.float32)  # D = 1/2 on |x − (0.3, 0)| = 1
    sx, sy = half_contour(d, np.array([-2.0, 2.0, -2.0, 2.0]))
    assert len(sx) > 100 and len(sx) % 2 == 0
    np.testing.assert_allclose(np.hypot(sx - 0.3, sy), 1.0, atol=0.01)


def test_arrows_are_scaled_and_clipped():
    start = np.zeros((100, 2))
    vec = np.column_stack((np.linspace(1e-6, 1e-4, 100), np.zeros(100)))
    vec[-1, 0] = 1.0  # an outlier does not shrink the others
    x, y = arrow_segments(start, vec, width=3.0)
    shaft = np.hypot(x[1::6] - x[0::6], y[1::6] - y[0::6])
    assert shaft.max() < 0.3 and shaft.max() == pytest.approx(0.15)  # never beyond 10% of the width
    # A fixed scale: an arrow's length does not depend on the others (lengths compare over time).
    x2, y2 = arrow_segments(start[:1], np.array([[1.0, 0.0]]), width=3.0)
    assert np.hypot(x2[1] - x2[0], y2[1] - y2[0]) == pytest.approx(0.15)
    assert arrow_segments(start, 2 * vec, width=3.0)[0][1::6].max() > x[1::6].max()


def test_strokes_are_resampled_evenly():
    stroke = np.array([[0.0, 0.0], [0.01, 0.0], [1.0, 0.0]])  # fast then slow mouse
    out = resample_stroke(stroke, 0.1)
    np.testing.assert_allclose(np.diff(out[:, 0]), 0.1)
    assert resample_stroke(np.array([[2.0, 3.0]]), 0.1).tolist() == [[2.0, 3.0]]
