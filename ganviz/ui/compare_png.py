"""compare.png of `ganviz sweep`: one metric over iterations, one curve per lane, drawn offscreen with pyqtgraph."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganviz.ui.render import ensure_app


def save_compare_png(curves: list[tuple[str, np.ndarray, np.ndarray]], x_label: str, y_label: str,
                     path: str | Path, size: tuple[int, int] = (1100, 700)) -> None:
    """Draw (label, x, y) curves, coloured per lane with a legend naming them, and save as PNG."""
    app = ensure_app()
    import pyqtgraph as pg
    from PySide6.QtCore import QEvent

    columns = 1 if len(curves) <= 6 else 2 if len(curves) <= 24 else 3
    rows = -(-len(curves) // columns)
    # The legend goes below the plot, never over the curves, and the picture grows to hold it.
    plot = pg.GraphicsLayoutWidget()
    plot.setBackground("w")
    plot.resize(size[0], size[1] + 20 * rows)
    item = plot.addPlot(row=0, col=0)
    item.setLabel("bottom", x_label)
    item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.2)
    for axis in ("left", "bottom"):
        item.getAxis(axis).setPen(pg.mkPen("k"))
        item.getAxis(axis).setTextPen(pg.mkPen("k"))
        item.getAxis(axis).enableAutoSIPrefix(False)  # "0.3 nats", not "300 (x0.001)"
    legend = pg.LegendItem(labelTextColor="k")
    legend.setColumnCount(columns)
    plot.addItem(legend, row=1, col=0)
    plot.ci.layout.setRowStretchFactor(0, 1)
    for i, (label, x, y) in enumerate(curves):
        color = pg.intColor(i, hues=max(len(curves), 1), values=1, maxValue=220)
        finite = np.isfinite(y)
        curve = item.plot(np.asarray(x, float)[finite], np.asarray(y, float)[finite], pen=pg.mkPen(color, width=2))
        legend.addItem(curve, label)
    plot.show()
    app.processEvents()
    ok = plot.grab().save(str(path), "PNG")
    plot.close()
    plot.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    if not ok:
        raise OSError(f"could not write {path}")
