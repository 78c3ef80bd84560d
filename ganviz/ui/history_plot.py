"""Curves over training (divergences, losses, scores) shared by every mode's view.

Usage:
    plot = HistoryPlot([
        Series("jsd", "JSD(P_data‖P_G)", "#d62728", group="div"),
        Series("jsd_d", "(V(G,D)+log 4)/2", "#1f77b4", group="div", dashed=True),
        Series("d_loss", "D loss", "#9467bd", group="loss", smooth=True),
    ], groups={"div": "divergence (nats)", "loss": "loss"})
    plot.update_history(snapshot.history)   # x = history["step"]

One stacked plot per group, x-linked, each with its legend in a column to its right (off the data,
on an opaque background). Each series has a checkbox (objectName "series_<column>") and smoothable
series follow the smoothing spin box (objectName "smoothingSpin": a trailing mean over that many
points; 0 or 1 = raw). The groups in `log_groups` get a log-scale check box (objectName
"logScaleCheck"), those in `integer_groups` integer ticks; a group whose curves have no finite value
(e.g. modes for a target that is not a mixture) is hidden, not left empty. The iteration axis never
uses SI prefixes and starts afresh after `clear` (a new run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QGraphicsItem, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QSpinBox,
                               QVBoxLayout, QWidget)

LEGEND_BRUSH = pg.mkBrush(255, 255, 255, 235)
LEGEND_PEN = pg.mkPen(200, 200, 200)


TOGGLE_COLUMNS = 4
# The least height of one history plot (its axes included): three value labels and a visible curve. The
# plot area asks for this much per shown plot, so a dock opened below the view takes height from the
# main picture instead of clipping the history to a sliver.
PLOT_MIN_HEIGHT = 70
AXIS_LABEL_PX = 16
LABEL_PX = 14  # the height a value label needs on the left axis (8-9 pt text)
# Below this many rows each value is also drawn as a dot: a line through one point draws nothing, so a
# run that diverged before its second measurement would otherwise show no history at all.
DOTS_BELOW = 10
DIVERGED_COLOR = "#d62728"


class ValueAxis(pg.AxisItem):
    """A left axis whose major labels keep LABEL_PX apart: pyqtgraph asks for at least 2.25 intervals
    whatever the height, four labels one over another on a 35-px panel (a 1024×700 window)."""

    def tickSpacing(self, minVal, maxVal, size):
        levels = super().tickSpacing(minVal, maxVal, size)
        if not levels or size <= 0 or self._tickSpacing is not None:
            return levels
        room = LABEL_PX * abs(maxVal - minVal) / size  # the value span one label needs
        major = levels[0][0]
        for factor in (1, 2, 5, 10, 20, 50, 100):
            if major * factor >= room:
                break
        return levels if factor == 1 else [(major * factor, 0), (major, 0)]


@dataclass(frozen=True)
class Series:
    column: str
    label: str
    color: str
    group: str
    dashed: bool = False
    smooth: bool = False      # follows the smoothing control (noisy per-batch quantities)
    visible: bool = True
    tip: str = ""             # what the curve means, in the theory's words (its check box's tooltip)


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
                 smoothing: int = 10, max_hz: float = 3.0, log_groups: tuple[str, ...] = ("div",),
                 integer_groups: tuple[str, ...] = ("modes",), legend_above: bool = False,
                 toggle_columns: int = TOGGLE_COLUMNS):
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
        self.layout_widget.ci.setSpacing(2)
        self.legend_above = legend_above  # a narrow panel: each legend in one row above its plot
        self.groups = dict(groups)
        self.legends: dict[str, pg.LegendItem] = {}
        self._shown_groups: tuple[str, ...] = ()
        first = None
        for group, ylabel in groups.items():
            plot = pg.PlotItem(axisItems={"left": ValueAxis("left")})
            plot.setLabel("left", ylabel, **{"font-size": "8pt"})
            for name in ("left", "bottom"):
                plot.getAxis(name).enableAutoSIPrefix(False)
            plot.getAxis("left").setWidth(52)  # the same width for every row, so the x axes line up
            if group in integer_groups:
                plot.getAxis("left").setTickSpacing(major=1, minor=1)
            cache_axes(plot)
            plot.showGrid(x=True, y=True, alpha=0.2)
            legend = pg.LegendItem(offset=None, labelTextSize="8pt", brush=LEGEND_BRUSH, pen=LEGEND_PEN,
                                   verSpacing=-4, horSpacing=6)
            legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            if legend_above:
                legend.setColumnCount(sum(1 for s in series if s.group == group))
            plot.legend = legend  # what addLegend would set; the legend itself lives beside the plot
            self.legends[group] = legend
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setMinimumHeight(PLOT_MIN_HEIGHT)
            # Iterations are whole and never negative: a new run's single point at 0 gets 0 … 10, not −0.4 … 0.4.
            plot.setLimits(xMin=0, minXRange=10)
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            self.plots[group] = plot
        self.log_groups = tuple(g for g in log_groups if g in groups)
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
            if s.tip:
                box.setToolTip(s.tip)
            box.toggled.connect(lambda on, s=s: self._set_visible(s, on))
            toggles.addWidget(box, *divmod(len(self.checkboxes), toggle_columns))
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
        smoothing_row.addStretch(1)
        rows = (len(self.series) + toggle_columns - 1) // toggle_columns
        self.log_check = None
        if self.log_groups:
            self.log_check = QCheckBox("log scale")
            self.log_check.setObjectName("logScaleCheck")
            self.log_check.setToolTip("divergences on a log axis: a KL of 20 nats and a JSD of 0.01 both readable "
                                      "(values ≤ 0, e.g. a negative lower bound, are not drawn)")
            self.log_check.toggled.connect(self.set_log_scale)
            smoothing_row.insertWidget(0, self.log_check)
            smoothing_row.insertSpacing(1, 12)
        toggles.addLayout(smoothing_row, rows, 0, 1, toggle_columns)
        toggles.setColumnStretch(toggle_columns - 1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.layout_widget, 1)
        layout.addLayout(toggles)
        for group in self.plots:
            self._rebuild_legend(group)
        self._update_groups()

    def _relayout(self, groups: tuple[str, ...]) -> None:
        """Put the plots of `groups` (in order) in rows, each with its legend beside it; the iteration
        axis is labelled on the bottom one."""
        if groups == self._shown_groups:
            return
        self._shown_groups = groups
        ci = self.layout_widget.ci
        for group, plot in self.plots.items():
            for item in (plot, self.legends[group]):
                if item in ci.items:
                    ci.removeItem(item)
            plot.setVisible(group in groups)
            self.legends[group].setVisible(group in groups)
        for row, group in enumerate(groups):
            legend = self.legends[group]
            if self.legend_above:
                ci.addItem(legend, row=2 * row, col=0)
                ci.addItem(self.plots[group], row=2 * row + 1, col=0)
                ci.layout.setAlignment(legend, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom)
            else:
                ci.addItem(self.plots[group], row=row, col=0)
                ci.addItem(legend, row=row, col=1)
                ci.layout.setAlignment(legend, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            last = row == len(groups) - 1
            self.plots[group].setLabel("bottom", "iteration" if last else None)
            self.plots[group].getAxis("bottom").setStyle(showValues=last)
        ci.layout.setColumnStretchFactor(0, 1)
        # the GraphicsLayoutWidget does not pass its items' minimum heights on to the Qt layout: say it here
        # (plus the bottom axis's "iteration" label, which the last plot's minimum does not count)
        self.layout_widget.setMinimumHeight(
            len(groups) * (PLOT_MIN_HEIGHT + round(ci.layout.verticalSpacing())) + AXIS_LABEL_PX if groups else 0)

    def _update_groups(self) -> None:
        """Show the groups that apply and have a curve switched on. A group whose every curve has no
        finite value after the first iterations does not apply (modes of a non-mixture): it is hidden
        with its check boxes."""
        x = self._history.get("step")
        shown = []
        for group in self.plots:
            columns = [s.column for s in self.series if s.group == group]
            applies = x is None or len(x) < 2 or any(
                np.isfinite(self._history[c]).any() for c in columns if c in self._history)
            for c in columns:
                self.checkboxes[c].setVisible(applies)
            if applies and any(self.checkboxes[c].isChecked() for c in columns):
                shown.append(group)
        self._relayout(tuple(shown))

    def set_log_scale(self, on: bool) -> None:
        for group in self.log_groups:
            self.plots[group].setLogMode(y=on)
            self.plots[group].enableAutoRange(y=True)
        if self.log_check is not None and self.log_check.isChecked() != on:
            self.log_check.setChecked(on)

    def _set_visible(self, series: Series, on: bool) -> None:
        self.curves[series.column].setVisible(on)
        self._rebuild_legend(series.group)
        self._update_groups()
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
        for plot in self.plots.values():  # a fresh iteration axis for the new run
            plot.enableAutoRange()

    def _redraw(self) -> None:
        x = self._history.get("step")
        if x is None or len(x) == 0:
            return
        span = self.smoothing.value()
        self._update_groups()
        dots = len(x) < DOTS_BELOW
        for s in self.series:
            y = self._history.get(s.column)
            if y is None or not self.checkboxes[s.column].isChecked():
                continue
            if s.smooth:
                y = moving_average(y, span)
            dotted = dots and bool(np.isfinite(y).any())  # (pyqtgraph warns when sizing dots that are all NaN)
            style = dict(symbol="o", symbolSize=5, symbolPen=None, symbolBrush=s.color) if dotted else dict(symbol=None)
            self.curves[s.column].setData(x, y, **style)

    def show_divergence(self, iteration: int | None, message: str = "") -> None:
        """A red dashed line on every plot at the iteration where training diverged (NaN/inf, or out of
        range), labelled on the top plot, with `message` as its tooltip: the curves end there, and a run
        that diverged within its first chunk of iterations has only its first measurement to show.
        None removes it (a new run)."""
        key = (iteration, message)
        if getattr(self, "_divergence_key", (None, "")) == key:
            return
        self._divergence_key = key
        for item, plot in getattr(self, "_divergence_items", []):
            plot.removeItem(item)
        self._divergence_items: list = []
        if iteration is None:
            return
        for j, plot in enumerate(self.plots.values()):
            line = pg.InfiniteLine(pos=iteration, angle=90, movable=False,
                                   pen=pg.mkPen(DIVERGED_COLOR, width=2, style=Qt.PenStyle.DashLine))
            if j == 0:  # the label on the side of the line with more room (a narrow panel clips it otherwise)
                x0, x1 = plot.getViewBox().viewRange()[0]
                side = 1 if iteration > 0.5 * (x0 + x1) else 0
                line.label = pg.InfLineLabel(line, text=f"⚠ diverged at {iteration:,}", position=0.8,
                                             anchors=[(side, 0.5), (side, 0.5)], color=DIVERGED_COLOR,
                                             fill=pg.mkBrush(255, 255, 255, 220))
            line.setToolTip(message)
            plot.addItem(line)
            self._divergence_items.append((line, plot))


def cache_axes(plot: pg.PlotItem) -> None:
    """Render each axis into a pixmap that is reused until the axis changes.

    Without this pyqtgraph replays every axis' QPicture on each repaint, which holds the GIL
    for milliseconds per frame and starves the training thread.
    """
    for name in ("left", "bottom", "right", "top"):
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
