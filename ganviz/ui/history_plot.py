"""Curves over training (divergences, losses, scores) shared by every mode's view.

Usage:
    plot = HistoryPlot([
        Series("jsd", "JSD(P_data‖P_G)", "#d62728", group="div"),
        Series("jsd_d", "(V(G,D)+log 4)/2", "#1f77b4", group="div", dashed=True),
        Series("d_loss", "D loss", "#9467bd", group="loss", smooth=True),
    ], groups={"div": "divergence (nats)", "loss": "loss"})
    plot.update_history(snapshot.history)   # x = history["step"]

One stacked plot per group, x-linked. Each series has a checkbox (objectName
"series_<column>") and smoothable series follow the smoothing spin box (objectName
"smoothingSpin": a trailing mean over that many points; 0 or 1 = raw).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QGraphicsItem, QGridLayout, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget


TOGGLE_COLUMNS = 4


@dataclass(frozen=True)
class Series:
    column: str
    label: str
    color: str
    group: str
    dashed: bool = False
    smooth: bool = False      # follows the smoothing control (noisy per-batch quantities)
    visible: bool = True


def moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` points, skipping NaN; a NaN point (e.g. no G update while G is
    frozen) stays NaN, so a gap is not bridged. Vectorised: runs on every redraw."""
    if window <= 1 or len(y) == 0:
        return y
    finite = np.isfinite(y)
    csum = np.concatenate(([0.0], np.cumsum(np.where(finite, y, 0.0))))
    ccount = np.concatenate(([0], np.cumsum(finite)))
    hi = np.arange(1, len(y) + 1)
    lo = np.maximum(hi - window, 0)
    count = ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((count > 0) & finite, (csum[hi] - csum[lo]) / count, np.nan)


class HistoryPlot(QWidget):
    def __init__(self, series: list[Series], groups: dict[str, str], parent: QWidget | None = None,
                 smoothing: int = 10, max_hz: float = 3.0):
        super().__init__(parent)
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(round(1000 / max_hz))
        self._flush.timeout.connect(self._redraw)
        self.series = list(series)
        self._history: dict[str, np.ndarray] = {}
        self.layout_widget = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        first = None
        for row, (group, ylabel) in enumerate(groups.items()):
            plot = self.layout_widget.addPlot(row=row, col=0)
            plot.setLabel("left", ylabel)
            plot.getAxis("left").enableAutoSIPrefix(False)
            cache_axes(plot)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            self.plots[group] = plot
        list(self.plots.values())[-1].setLabel("bottom", "iteration")

        toggles = QGridLayout()  # a grid, so many series wrap instead of widening the window
        toggles.setContentsMargins(4, 0, 4, 0)
        self.checkboxes: dict[str, QCheckBox] = {}
        for s in self.series:
            pen = pg.mkPen(s.color, width=2, style=Qt.PenStyle.DashLine if s.dashed else Qt.PenStyle.SolidLine)
            curve = self.plots[s.group].plot([], [], pen=pen, connect="finite")
            curve.setVisible(s.visible)
            self.curves[s.column] = curve
            box = QCheckBox(s.label)
            box.setObjectName(f"series_{s.column}")
            box.setChecked(s.visible)
            box.setStyleSheet(f"QCheckBox {{ color: {s.color}; }}")
            box.toggled.connect(lambda on, s=s: self._set_visible(s, on))
            toggles.addWidget(box, *divmod(len(self.checkboxes), TOGGLE_COLUMNS))
            self.checkboxes[s.column] = box
        smoothing_row = QHBoxLayout()
        smoothing_row.addWidget(QLabel("smoothing"))
        self.smoothing = QSpinBox()
        self.smoothing.setObjectName("smoothingSpin")
        self.smoothing.setRange(0, 500)
        self.smoothing.setValue(smoothing)
        self.smoothing.setToolTip("trailing mean over this many points (0 = raw values)")
        self.smoothing.valueChanged.connect(lambda _: self._redraw())
        smoothing_row.addWidget(self.smoothing)
        toggles.addLayout(smoothing_row, 0, TOGGLE_COLUMNS)
        toggles.setColumnStretch(TOGGLE_COLUMNS - 1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.layout_widget, 1)
        layout.addLayout(toggles)
        for group in self.plots:
            self._rebuild_legend(group)

    def _set_visible(self, series: Series, on: bool) -> None:
        self.curves[series.column].setVisible(on)
        self._rebuild_legend(series.group)
        if on:  # hidden curves are not kept up to date
            self._redraw()

    def _rebuild_legend(self, group: str) -> None:
        """The legend lists only the curves shown (the check boxes below already list them all)."""
        legend = self.plots[group].legend
        legend.clear()
        for s in self.series:
            if s.group == group and self.checkboxes[s.column].isChecked():
                legend.addItem(self.curves[s.column], s.label)

    def update_history(self, history: dict[str, np.ndarray]) -> None:
        """Draw `history`; redraws are limited to `max_hz` (a moving x-axis is costly to repaint),
        and the newest history is always drawn within 1/max_hz seconds."""
        self._history = history
        if not self._flush.isActive():
            self._flush.start()

    def flush(self) -> None:
        """Draw the pending history now."""
        self._flush.stop()
        self._redraw()

    def clear(self) -> None:
        self._flush.stop()
        self._history = {}
        for curve in self.curves.values():
            curve.setData([], [])

    def _redraw(self) -> None:
        x = self._history.get("step")
        if x is None or len(x) == 0:
            return
        span = self.smoothing.value()
        for s in self.series:
            y = self._history.get(s.column)
            if y is None or not self.checkboxes[s.column].isChecked():
                continue
            if s.smooth:
                y = moving_average(y, span)
            self.curves[s.column].setData(x, y)


def cache_axes(plot: pg.PlotItem) -> None:
    """Render each axis into a pixmap that is reused until the axis changes.

    Without this pyqtgraph replays every axis' QPicture on each repaint, which holds the GIL
    for milliseconds per frame and starves the training thread.
    """
    for name in ("left", "bottom", "right", "top"):
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
