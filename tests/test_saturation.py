"""Saturation made visible (THEORY.md §4): the Frame carries D(G(z)) on a batch and both generator losses'
gradient norms, computed at publish time; early in a minimax run with D rejecting the fakes the minimax
gradient is far smaller than the non-saturating one; the window's dock shows and updates it."""

import numpy as np

from ganviz.core.config import TrainConfig
from ganviz.core.session import Session


def test_minimax_saturates_when_d_rejects_the_fakes():
    """Minimax on the gaussian target, G frozen while D learns to reject its samples (the start of a run where D
    wins): D(G(z)) sits near 0, on the flat part of log(1 − D), and the minimax gradient is a small fraction of
    the non-saturating one on the same batch."""
    session = Session(TrainConfig.for_mode("1d", dataset="gaussian", loss="minimax", freeze_g=True, lr_d=3e-3))
    session.publish()  # iteration 0, D untrained
    session.step(150)
    sat = session.frame().lanes[0].saturation
    assert sat is not None and sat.loss == "minimax" and not sat.d_oracle
    assert len(sat.d_fake) == session.cfg.batch
    assert np.mean(sat.d_fake) < 0.1
    assert sat.grad_minimax[-1] < 0.2 * sat.grad_nonsaturating[-1]
    # at the start (D undecided, D(G(z)) ≈ 1/2) the two gradients are alike: saturation is D's confidence
    assert 0.5 < sat.grad_minimax[0] / sat.grad_nonsaturating[0] < 2.0
    assert list(sat.steps) == [0, 150]


def test_only_published_measurements_and_only_for_the_papers_d():
    session = Session(TrainConfig.for_mode("1d"))
    session.run(20, log_every=10)  # headless: views=False, nothing measured for the panel
    assert session.lanes[0].saturation is None
    session.step(1)  # measured with its picture, as the window's publish does
    assert session.frame().lanes[0].saturation is not None
    session.set(0, loss="wgan-gp")  # a critic has no D(G(z)) in (0, 1)
    assert session.frame().lanes[0].saturation is None


def test_against_the_exact_d_star_when_the_oracle_trains_g():
    session = Session(TrainConfig.for_mode("1d", dataset="gaussian", d_oracle=True))
    session.step(2)
    sat = session.frame().lanes[0].saturation
    assert sat.d_oracle and sat.grad_nonsaturating[-1] > 0
    assert ((sat.d_fake >= 0) & (sat.d_fake <= 1)).all()


def test_the_dock_shows_and_updates(window, qtbot):
    from ganviz.core.session import Session as S

    dock = window.saturation_dock
    assert not dock.isVisible()
    window.loss_combo.setCurrentIndex(window.loss_combo.findData("minimax"))
    dock.toggleViewAction().trigger()
    qtbot.waitUntil(dock.isVisible)
    panel = dock.panel
    window._post(S.step, 5)
    qtbot.waitUntil(lambda: panel.minimax_dots.data.size == window.cfg.batch and "minimax</b>" in panel.note.text(),
                    timeout=10000)
    window._post(S.step, 5)
    qtbot.waitUntil(lambda: panel.nonsat_norm.getData()[0] is not None and len(panel.nonsat_norm.getData()[0]) >= 2,
                    timeout=10000)
    x, y = panel.minimax_dots.getData()
    assert np.allclose(y, np.log1p(-x), atol=1e-6)  # each dot sits on log(1 − D)
    assert panel.curves.toolTip().startswith("G's loss as a function of D(G(z))")
    window.oracle_check.click()  # G against the exact D*: the panel says what G's loss sees
    window._post(S.step, 2)
    qtbot.waitUntil(lambda: "D*(G(z))" in panel.note.text(), timeout=10000)
    assert window.frame.lanes[0].cfg.d_oracle


def test_at_1024x700_the_open_dock_leaves_the_history_plots_legible(window, qtbot):
    """Opening the dock in a small window takes height from the main picture, not from the history: every
    shown history plot keeps its minimum height inside the plot area (none clipped), and the dock's plots and
    the main picture stay readable too."""
    from ganviz.ui.history_plot import PLOT_MIN_HEIGHT
    from ganviz.ui.saturation import dock_height

    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024 and window.height() == 700, timeout=3000)
    dock = window.saturation_dock
    dock.toggleViewAction().trigger()
    qtbot.waitUntil(dock.isVisible)
    assert dock_height(dock, 700) < dock.panel.sizeHint().height()  # a quarter of the window, not its size hint
    qtbot.waitUntil(lambda: dock.height() == dock_height(dock, 700), timeout=3000)
    history = window.view.history
    shown = [plot for plot in history.plots.values() if plot.isVisible()]
    assert len(shown) >= 2
    qtbot.waitUntil(lambda: history.layout_widget.height() >= sum(p.height() for p in shown), timeout=3000)
    assert (window.width(), window.height()) == (1024, 700)  # the window did not grow to make room
    assert all(plot.height() >= PLOT_MIN_HEIGHT for plot in shown)
    assert dock.panel.curves.height() >= 120 and dock.panel.norms.height() >= 120
    assert window.view.plot_widget.height() >= 150
