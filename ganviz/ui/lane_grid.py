"""Lanes side by side: one small view per lane in a grid with linked axes, and one compare plot
of a headline quantity over iterations, one line per lane."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from ganviz.core import modes
from ganviz.core.frame import Frame, LaneFrame
from ganviz.ui.base import LaneView
from ganviz.ui.history_plot import cache_axes

# One colour per lane id (tab10, then six more), the same in the lane's header and its compare line.
LANE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")
COMPARE_HZ = 3.0
GRID_SPACING = 4
# What a lane's cell holds besides its plane (header, tick labels, an outer lane's axis title), in px
# (measured on the 2-D lanes: 32-47 wide, 44-63 tall).
CELL_OVERHEAD = (45, 45)
# Another shape than the squarest must give each plane this much more area: near a tie the planes
# would jump between shapes as the window is resized, for little gain.
SHAPE_GAIN = 1.15


def grid_shape(count: int, width: float, height: float, aspect: float | None, stretch: float = 1.0,
               overhead: tuple[float, float] = CELL_OVERHEAD, spacing: float = GRID_SPACING) -> tuple[int, int]:
    """(columns, rows) for `count` small multiples in a width × height area. A plane drawn at a locked
    aspect (height / width; `stretch` times that at most either way) only fills its cell in one direction,
    so the shape that gives each plane the largest area is chosen: a wide area takes more columns, a tall
    one more rows. `aspect` None (the picture fills its cell): the square-ish ceil(√n) columns."""
    if count <= 1:
        return 1, 1
    if aspect is None or width <= 0 or height <= 0:
        columns = math.ceil(math.sqrt(count))
        return columns, math.ceil(count / columns)

    def plane_area(columns: int) -> float:
        rows = math.ceil(count / columns)
        cell_w = (width - spacing * (columns - 1)) / columns - overhead[0]
        cell_h = (height - spacing * (rows - 1)) / rows - overhead[1]
        if cell_w <= 0 or cell_h <= 0:
            return 0.0
        return min(cell_w, cell_h * stretch / aspect) * min(cell_h, cell_w * aspect * stretch)

    squarest = math.ceil(math.sqrt(count))
    best, best_area = squarest, plane_area(squarest) * SHAPE_GAIN  # a near tie keeps the squarest grid
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        if (columns - 1) * rows >= count:  # a whole column would stay empty: the same rows with fewer columns
            continue
        area = plane_area(columns)
        if area > best_area:
            best, best_area = columns, area
    return best, math.ceil(count / best)


def lane_color(lane_id: int) -> str:
    return LANE_COLORS[lane_id % len(LANE_COLORS)]


def lane_title(lane: LaneFrame, index: int) -> str:
    """What the user reads a lane by: what distinguishes it, or 'lane N' when nothing does."""
    return lane.label or f"lane {index + 1}"


def lane_titles(frame: Frame) -> tuple[str, ...]:
    """Each lane's title; lanes with equal settings (the same label) get their number too."""
    titles = [lane_title(lane, i) for i, lane in enumerate(frame.lanes)]
    counts = {t: titles.count(t) for t in titles}
    return tuple(t if counts[t] == 1 or t.startswith("lane ") else f"{t} · lane {i + 1}"
                 for i, t in enumerate(titles))


class LaneGrid(QWidget):
    lane_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("laneGrid")
        self.mode = ""
        self.views: dict[int, LaneView] = {}
        self.curves: dict[int, pg.PlotDataItem] = {}
        self._ids: tuple[int, ...] = ()
        self._titles: tuple[str, ...] = ()
        self._selected: int | None = None
        self._frame: Frame | None = None

        self.key_label = QLabel(objectName="laneKey")
        self.key_label.setTextFormat(Qt.TextFormat.RichText)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(GRID_SPACING)
        self.grid_host.installEventFilter(self)  # a resize may call for another columns × rows
        self._shape: tuple[int, int] = (0, 0)
        lanes_box = QWidget()
        lanes_layout = QVBoxLayout(lanes_box)
        lanes_layout.setContentsMargins(0, 0, 0, 0)
        lanes_layout.setSpacing(2)
        lanes_layout.addWidget(self.key_label)
        lanes_layout.addWidget(self.grid_host, 1)

        self.compare_combo = QComboBox(objectName="compareCombo")
        self.compare_combo.setToolTip("the quantity compared across lanes, one line per lane")
        self.compare_combo.currentIndexChanged.connect(lambda _: self._redraw_compare())
        self.compare_widget = pg.PlotWidget()
        self.compare = self.compare_widget.getPlotItem()
        self.compare.showGrid(x=True, y=True, alpha=0.2)
        self.compare.setLabel("bottom", "iteration")
        for name in ("left", "bottom"):  # no "×0.001" iteration axis
            self.compare.getAxis(name).enableAutoSIPrefix(False)
        self.compare.setLimits(xMin=0, minXRange=10)  # whole, non-negative iterations (as the history plots)
        self.compare.setClipToView(True)
        self.compare.setDownsampling(auto=True, mode="peak")
        # Half-transparent: with many lanes the legend lies over lines that must stay visible.
        self.compare.addLegend(offset=(-10, 10), labelTextSize="8pt", brush=pg.mkBrush(255, 255, 255, 170),
                               verSpacing=-6)
        cache_axes(self.compare)
        compare_box = QWidget()
        box = QVBoxLayout(compare_box)
        box.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Compare lanes:"))
        row.addWidget(self.compare_combo)
        row.addStretch(1)
        box.addLayout(row)
        box.addWidget(self.compare_widget, 1)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(lanes_box)
        splitter.addWidget(compare_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([500, 280])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(round(1000 / COMPARE_HZ))
        self._timer.timeout.connect(self._redraw_compare)

    # --- lanes ------------------------------------------------------------------------------------
    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self.compare_combo.blockSignals(True)
        self.compare_combo.clear()
        for headline in modes.spec(mode).headlines:
            self.compare_combo.addItem(headline.label, headline.column)
        self.compare_combo.setCurrentIndex(0)
        self.compare_combo.blockSignals(False)
        self.key_label.setText(modes.load(modes.spec(mode).view).key + " &nbsp; · click a lane to edit it")
        self._clear_lanes()

    def _clear_lanes(self) -> None:
        for view in self.views.values():
            self.grid.removeWidget(view)
            view.deleteLater()
        for curve in self.curves.values():
            self.compare.removeItem(curve)
        self.views, self.curves, self._ids, self._titles = {}, {}, (), ()
        self.compare.legend.clear()

    def _rebuild(self, frame: Frame) -> None:
        """New lane widgets for lanes not seen before; lanes gone are dropped. Runs only when the
        set of lanes changes, never per frame."""
        ids = tuple(lane.id for lane in frame.lanes)
        view_class = modes.load(modes.spec(frame.mode).view)
        for lane_id in list(self.views):
            if lane_id not in ids:
                view = self.views.pop(lane_id)
                self.grid.removeWidget(view)
                view.deleteLater()
                self.compare.removeItem(self.curves.pop(lane_id))
        for lane_id in ids:
            if lane_id not in self.views:
                view = view_class(lane_id, lane_color(lane_id))
                view.clicked.connect(self.lane_clicked)
                self.views[lane_id] = view
                self.curves[lane_id] = self.compare.plot([], [], pen=pg.mkPen(lane_color(lane_id), width=1.8),
                                                         connect="finite")
        first = self.views[ids[0]]
        for lane_id in ids:
            view = self.views[lane_id]
            if view is not first:
                view.link(first)
            view.set_selected(lane_id == self._selected)
        self._ids = ids
        self._titles = ()
        self._shape = (0, 0)
        self._place()

    def shape(self) -> tuple[int, int]:
        """The (columns, rows) the lanes should take in the grid's present size."""
        if not self._ids:
            return 1, 1
        first = self.views[self._ids[0]]  # the lanes share P_data, so its region
        return grid_shape(len(self._ids), self.grid_host.width(), self.grid_host.height(), first.plane_aspect(),
                          first.plane_stretch)

    def _place(self) -> None:
        """Put the lanes in the grid, row by row, when the shape they should take changed."""
        shape = self.shape()
        if shape == self._shape or not self._ids:
            return
        self._shape = columns, rows = shape
        for view in self.views.values():
            self.grid.removeWidget(view)
        for i, lane_id in enumerate(self._ids):
            view = self.views[lane_id]
            self.grid.addWidget(view, *divmod(i, columns))
            view.show_axis_titles(bottom=i + columns >= len(self._ids), left=i % columns == 0)
        for c in range(len(self._ids)):  # stretch only where lanes are: the columns and rows of an
            self.grid.setColumnStretch(c, 1 if c < columns else 0)  # earlier shape take no room
            self.grid.setRowStretch(c, 1 if c < rows else 0)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.grid_host and event.type() == QEvent.Type.Resize:
            self._place()
        return super().eventFilter(watched, event)

    def show_frame(self, frame: Frame, selected: int) -> None:
        if frame.mode != self.mode:
            self._set_mode(frame.mode)
        if tuple(lane.id for lane in frame.lanes) != self._ids:
            self._rebuild(frame)
        if selected != self._selected:
            self._selected = selected
            for lane_id, view in self.views.items():
                view.set_selected(lane_id == selected)
        self._place()  # a lane's first picture may set its plane's aspect
        titles = lane_titles(frame)
        for lane, title in zip(frame.lanes, titles):
            self.views[lane.id].show_lane(lane, title)
        if titles != self._titles:  # the legend names the lanes: remade only when a name changes
            self._titles = titles
            self.compare.legend.clear()
            self.compare.legend.setColumnCount(1 if len(titles) <= 6 else 2)
            for lane, title in zip(frame.lanes, titles):
                self.compare.legend.addItem(self.curves[lane.id], title)
        self._frame = frame
        if not self._timer.isActive():
            self._timer.start()

    def clear(self) -> None:
        for view in self.views.values():
            view.clear()
        for curve in self.curves.values():
            curve.setData([], [])
        self.compare.enableAutoRange()  # a fresh iteration axis for the new run

    # --- the compare plot ---------------------------------------------------------------------------
    def flush(self) -> None:
        self._timer.stop()
        self._redraw_compare()

    def _redraw_compare(self) -> None:
        frame = self._frame
        column = self.compare_combo.currentData()
        if frame is None or column is None:
            return
        self.compare.setLabel("left", self.compare_combo.currentText())
        for lane in frame.lanes:
            curve = self.curves.get(lane.id)
            x, y = lane.history.get("step"), lane.history.get(column)
            if curve is None:
                continue
            if x is None or y is None or len(x) == 0:
                curve.setData([], [])
            else:
                curve.setData(np.asarray(x), np.asarray(y))
