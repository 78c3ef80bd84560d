"""Issue 10's audit, as a user sees the window: what the new-user review found and a test shows fixed."""

import numpy as np


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
