"""The MLE layer (THEORY §6) in the Session and the window: fitted once per (target, K, seed) in the
background, carried by the Frame, drawn over P_data in every view, and compared with the GAN in a table."""

import math

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QFrame

from ganviz.core import mle
from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core.session import Session
from ganviz.ui.mle_table import _fmt

WAIT = 60  # seconds: a fit takes < 2 s on the shared 2-core machine; this only bounds a hang


@pytest.fixture
def bimodal():
    s = Session(TrainConfig.for_mode("1d", dataset="bimodal"))
    yield s
    s.close()


def ready(session: Session):
    assert session.wait_mle(WAIT)
    frame = session.frame()
    assert frame.mle_state == "ready", frame.mle_state
    return frame


# --- the core, headless ------------------------------------------------------------------------------
def test_one_component_on_bimodal_in_the_frame_sits_between_the_modes(bimodal):
    bimodal.set_mle(1)
    frame = ready(bimodal)
    layer = frame.mle
    assert frame.mle_components == 1 and layer.components == 1
    assert abs(layer.means[0, 0]) < 0.1                      # mean 0 (sd 0.021 at n = 10,000)
    assert abs(layer.covariances[0, 0, 0] - 4.25) < 0.15     # 0.5² + 2² (sd 0.020)
    # the curve drawn is the mixture's density on the plotted grid, peaking where P_data has none
    x, y = layer.density.x, layer.density.y
    assert abs(x[np.argmax(y)]) < 0.1 and y.max() == pytest.approx(1 / math.sqrt(2 * math.pi * 4.25), rel=0.02)
    # the same numbers as `ganviz mle` (same seed, same samples, same estimator grid)
    cli = mle.mle_baseline("1d", "bimodal", 1)
    assert layer.metrics == pytest.approx({k: cli[k] for k in ("kl", "kl_rev", "jsd")}, rel=1e-9)


def test_the_fit_is_made_once_and_cached_per_target_and_k(bimodal):
    bimodal.set_mle(1)
    first = ready(bimodal).mle
    bimodal.run(20, 10)
    assert bimodal.frame().mle is first                      # never refitted per frame or by training
    bimodal.set_mle(3)
    assert bimodal.frame().mle_state == "fitting"            # K changed: a new fit, in the background
    third = ready(bimodal).mle
    assert third.components == 3 and len(third.weights) == 3
    bimodal.set_mle(1)
    again = bimodal.frame()                                  # back to K = 1: the cached fit, at once
    assert again.mle_state == "ready" and again.mle is first
    bimodal.configure(dataset="trimodal")                    # a new target: a new fit
    assert bimodal.frame().mle_state == "fitting"
    assert ready(bimodal).mle is not first


def test_off_is_none_and_a_bad_k_is_refused_with_a_message(bimodal):
    assert bimodal.frame().mle_state == "off" and bimodal.frame().mle is None
    for bad in (11, -1, 2.5, True):
        with pytest.raises(ConfigError, match="MLE components"):
            bimodal.set_mle(bad)
    assert bimodal.frame().mle_components == 0               # nothing half-set
    bimodal.set_mle(2)
    bimodal.set_mle(0)
    assert bimodal.frame().mle_state == "off" and bimodal.frame().mle is None


def test_closing_cancels_a_fit_under_way_and_joins_its_thread():
    s = Session(TrainConfig.for_mode("2d", dataset="grid25"))
    s.set_mle(10)                                            # ~1.3 s of EM on the 2-core machine
    job = s._mle._job
    assert job is not None and not job.future.done()
    s.close()
    assert job.future.done() and job.stop.is_set()
    assert job.future.cancelled() or isinstance(job.future.exception(), mle.Cancelled)
    assert s._mle._executor is None                          # shut down and joined


def test_ring8_fits_in_2d_through_the_tasks_own_evaluation():
    s = Session(TrainConfig.for_mode("2d", dataset="ring8"))
    try:
        s.set_mle(8)
        eight = ready(s).mle
        s.set_mle(1)
        one = ready(s).mle
    finally:
        s.close()
    assert eight.means.shape == (8, 2) and one.covariances.shape == (1, 2, 2)
    assert eight.metrics["jsd"] < 0.02                       # every mode covered (the window estimator's ring8 floor at 10⁴ samples: 0.011)
    assert one.metrics["jsd"] > 0.5 and one.metrics["kl_rev"] > one.metrics["kl"] > 1  # measured 18 and 6: mass in the hole


def test_a_point_sets_fit_is_drawn_in_the_datas_units(tmp_path):
    """A point set trains standardised but its plane is in the data's units: so are the ellipses."""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(400, 2)) * [100.0, 0.5] + [1e4, -3.0]
    path = tmp_path / "points.csv"
    np.savetxt(path, points, delimiter=",", header="a,b", comments="")
    s = Session(TrainConfig.for_mode("2d", dataset=str(path)))
    try:
        s.set_mle(1)
        layer = ready(s).mle
        assert layer.means[0] == pytest.approx(points.mean(axis=0), rel=0.02, abs=0.05)
        sd = np.sqrt(np.diag(layer.covariances[0]))
        assert sd == pytest.approx(points.std(axis=0), rel=0.1)  # the KDE adds its bandwidth
    finally:
        s.close()


def test_mle_covers_the_modes_a_collapsed_gan_drops():
    """KL(P_data‖·) is mode-covering: the K = 1 fit has a far smaller KL(P_data‖·) than a P_G sitting on
    one mode (a collapsed GAN, measured by the GAN's own estimator), which has the smaller reverse KL."""
    s = Session(TrainConfig.for_mode("1d", dataset="bimodal"))
    try:
        s.set_mle(1)
        fit = ready(s).mle.metrics
        task = s.lanes[0].trainer.task
    finally:
        s.close()
    collapsed = task.estimator.estimate(np.random.default_rng(0).normal(2.0, 0.5, 10_000))
    assert fit["kl"] < 1.0 < 10 < collapsed.kl                # measured 0.72 against ~12
    assert collapsed.kl_rev < math.log(2) + 0.05 < fit["kl_rev"]  # log 2 (the missing half) against 2.0


# --- the window --------------------------------------------------------------------------------------
def settled(window) -> bool:
    return window.frame is not None and window.frame.applied >= window._posted


def test_the_layer_shows_hides_refits_and_its_table_follows_the_frames(window, qtbot):
    view, table = window.view, window.mle_table
    qtbot.waitUntil(lambda: window.frame is not None, timeout=5000)
    assert not view.mle_curve.isVisible() and table.isHidden()
    view.mle_controls.check.setChecked(True)                 # as a user does it
    qtbot.waitUntil(lambda: window.frame.mle is not None and len(view.mle_curve.getData()[0]) > 0,
                    timeout=WAIT * 1000)
    assert view.mle_curve.isVisible() and not table.isHidden()
    assert "MLE fit, K = 1" in [label.text for _, label in view.plot.legend.items]
    layer = window.frame.mle
    assert table.row(0) == [_fmt(layer.metrics[k]) for k in ("kl", "kl_rev", "jsd")]
    # the GAN row is the frame's: step, then compare with what the frame says
    window.step_button.click()
    qtbot.waitUntil(lambda: settled(window) and window.frame.lanes[0].iteration == 1, timeout=10000)
    qtbot.waitUntil(lambda: table.row(1)[2] == _fmt(window.frame.lanes[0].metrics["jsd"]), timeout=5000)
    lane = window.frame.lanes[0]
    assert table.row(1) == [_fmt(lane.metrics[k]) for k in ("kl", "kl_rev", "jsd")]
    assert "iteration 1" in table.table.verticalHeaderItem(1).text()
    # changing K refits: a new layer with K components, a new curve
    before = view.mle_curve.getData()[1].copy()
    view.mle_controls.spin.setValue(2)
    qtbot.waitUntil(lambda: window.frame.mle is not None and window.frame.mle.components == 2, timeout=WAIT * 1000)
    qtbot.waitUntil(lambda: not np.array_equal(view.mle_curve.getData()[1], before), timeout=5000)
    assert "K = 2" in table.table.verticalHeaderItem(0).text()
    assert "MLE fit, K = 2" in [label.text for _, label in view.plot.legend.items]
    # off: the curve, its legend entry and the table go
    view.mle_controls.check.setChecked(False)
    qtbot.waitUntil(lambda: settled(window) and window.frame.mle_components == 0 and table.isHidden(), timeout=5000)
    assert not view.mle_curve.isVisible()
    assert not any(label.text.startswith("MLE") for _, label in view.plot.legend.items)


def test_every_lane_view_shows_the_layer(window, qtbot):
    qtbot.waitUntil(lambda: window.frame is not None, timeout=5000)
    window.view.mle_controls.check.setChecked(True)
    window.add_lane_button.click()
    qtbot.waitUntil(lambda: settled(window) and len(window.frame.lanes) == 2 and window.frame.mle is not None,
                    timeout=WAIT * 1000)
    def lanes():
        return [w for w in window.findChildren(QFrame, "laneView") if w.isVisibleTo(window)]

    qtbot.waitUntil(lambda: len(lanes()) == 2 and all(v.mle_curve.getData()[0] is not None
                                                      and len(v.mle_curve.getData()[0]) > 0 for v in lanes()),
                    timeout=5000)
    assert not window.mle_table.isHidden()                   # the table is the selected lane's
    assert f"iteration {window.frame.lane(window.selected).iteration:,}" in \
        window.mle_table.table.verticalHeaderItem(1).text()


def test_2d_layer_draws_ellipses_and_hides_like_the_other_layers(qtbot):
    from ganviz.ui import MainWindow

    w = MainWindow(mode="2d", dataset="ring8")
    qtbot.addWidget(w)
    w.show()
    try:
        view = w.view
        qtbot.waitUntil(lambda: w.frame is not None, timeout=5000)
        assert "MLE fit 1σ, 2σ" not in view.legend_labels()
        view.mle_controls.spin.setValue(1)
        view.layer_boxes["showMLE"].setChecked(True)
        qtbot.waitUntil(lambda: w.frame.mle is not None and len(view.mle_ellipses.getData()[0]) > 0,
                        timeout=WAIT * 1000)
        x, y = view.mle_ellipses.getData()
        assert np.isnan(x).sum() == 2                        # one component: its 1σ and its 2σ ellipse
        radius = np.nanmax(np.hypot(x, y))                   # ring8 has radius 1: one Gaussian's 2σ ≈ 2·0.71
        assert 1.2 < radius < 1.6
        assert view.mle_ellipses.isVisible() and "MLE fit K = 1: 1σ, 2σ" in view.legend_labels()
        view.layer_boxes["showMLE"].setChecked(False)
        assert not view.mle_ellipses.isVisible()
        assert not any(text.startswith("MLE") for text in view.legend_labels())
        qtbot.waitUntil(lambda: settled(w) and w.frame.mle_components == 0 and w.mle_table.isHidden(), timeout=5000)
    finally:
        w.close()
        assert w.worker.wait(5000)


def test_ellipses_are_the_covariances_level_sets():
    from ganviz.core.frame import MLELayer
    from ganviz.ui.view2d import mle_ellipses

    cov = np.array([[[2.0, 0.6], [0.6, 0.5]]])
    layer = MLELayer(1, 0, np.array([1.0]), np.array([[1.0, -1.0]]), cov, {})
    x, y = mle_ellipses(layer)
    pts = np.column_stack((x, y))
    pts = pts[np.isfinite(pts).all(axis=1)] - [1.0, -1.0]
    mahalanobis = np.sqrt(np.einsum("ni,ij,nj->n", pts, np.linalg.inv(cov[0]), pts))
    n = len(mahalanobis) // 2
    assert mahalanobis[:n] == pytest.approx(1.0) and mahalanobis[n:] == pytest.approx(2.0)
    assert mle_ellipses(None)[0].size == 0
