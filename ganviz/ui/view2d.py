"""The 2-D view: D(x) over the plane, real and generated samples, G's warped noise grid, and JSD and mode coverage."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QGridLayout, QPushButton, QWidget

from ganviz.core.config import MODE_DEFAULTS
from ganviz.core.snapshot import Snapshot
from ganviz.core.toy2d import Picture2D
from ganviz.ui.base import LaneView, ModeView, NoiseControls, hint_label, small_font
from ganviz.ui.history_plot import HistoryPlot, Series, cache_axes
from ganviz.ui.mle_table import LAYER_TIP as MLE_LAYER_TIP
from ganviz.ui.mle_table import MLE_COLOR, MLEControls
from ganviz.ui.view1d import TIPS, DataAxis

COLORS = {
    "real": "#111111",
    "fake": "#2ca02c",
    "manifold": (20, 110, 20, 120),
    "arrows": (90, 40, 120, 200),
    "centres": "#ff7f0e",
    "half": "#333333",
    "stroke": "#e377c2",
    "jsd": "#d62728",
    "jsd_d": "#1f77b4",
    "modes": "#ff7f0e",
    "hq": "#8c564b",
    "d_loss": "#9467bd",
    "g_loss": "#2ca02c",
}
# D = 0 (surely fake) red, D = 1/2 white, D = 1 (surely real) blue: the colour says where D
# tells the generator to go, and white is where it can no longer tell.
D_COLORMAP = pg.ColorMap([0.0, 0.5, 1.0], [(178, 24, 43), (247, 247, 247), (33, 102, 172)])
ARROW_FRACTION = 0.1      # the longest arrows are this fraction of the region's width
ARROW_REF = 1.0           # a gradient of this norm (per unit of x) gets half the longest arrow
STROKE_SPACING = 0.01     # drawn strokes are resampled every 1% of the region's width
MAX_DRAWN_POINTS = 20000
# A point set's axes are each scaled to the data's spread when their spreads differ by more than
# this factor (equal aspect would squeeze the data into a thin line); closer, or with "Equal aspect"
# ticked, one unit is as long on both axes.
ASPECT_LIMIT = 3.0
TARGETS_HINT = "Targets: the Dataset list, a drawing, or a file of points."


def equal_aspect(extent, forced: bool = False) -> bool:
    """Whether the plane of `extent` (x0, x1, y0, y1; a square in the task's coordinates, so its
    sides are in the ratio of the axes' spreads) is drawn with equal aspect."""
    x0, x1, y0, y1 = (float(e) for e in extent)
    ratio = (y1 - y0) / (x1 - x0) if x1 > x0 and y1 > y0 else 1.0
    return forced or max(ratio, 1.0 / ratio) <= ASPECT_LIMIT


def frame_plane(plot, extent, equal: bool) -> None:
    """Lock or free the aspect ratio and frame the target's region."""
    x0, x1, y0, y1 = extent
    plot.setAspectLocked(equal)
    plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)

# Short labels: the check boxes of all series share one row beside the square plane.
HISTORY_SERIES_2D = [
    Series("jsd", "JSD", COLORS["jsd"], "div", tip=TIPS["jsd"]),
    Series("jsd_d", "(V+log 4)/2", COLORS["jsd_d"], "div", dashed=True, tip=TIPS["jsd_d"]),
    Series("modes", "modes", COLORS["modes"], "modes",
           tip="how many of the mixture's modes have generated samples near them (mode collapse: fewer)"),
    Series("hq", "HQ", COLORS["hq"], "other",
           tip="high-quality fraction: the share of generated samples within 3σ of some mode"),
    Series("d_loss", "D loss", COLORS["d_loss"], "other", smooth=True, tip=TIPS["d_loss"]),
    Series("g_loss", "G loss", COLORS["g_loss"], "other", smooth=True, tip=TIPS["g_loss"]),
]
HISTORY_GROUPS_2D = {"div": "nats", "modes": "modes covered", "other": "fraction · loss"}
LAYER_TIPS = {
    "showHeatmap": "D(x) over the plane: blue where D says real (1), red where it says generated (0), white "
                   "(dashed contour) where it cannot tell (D = ½). At D = D* this is p_data/(p_data+p_G)",
    "showReal": "samples of P_data, the target",
    "showFake": "samples G(z) of P_G, the generator's distribution",
    "showManifold": "G applied to a regular grid of noise values (equal-mass quantiles of P_z): each warped cell "
                    "holds the same probability",
    "showArrows": "−∇ₓ of the generator loss at generated points: where the current D pushes them",
    "showCentres": "the centres of the target mixture's modes (used to count modes covered)",
    "showMLE": MLE_LAYER_TIP,
}


def half_contour(d: np.ndarray, extent: np.ndarray, level: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The segments of {D = level} on a row-major grid (rows y, columns x) by marching squares,
    vectorised, as x, y arrays of pairs (for connect="pairs"). The grid values sit at cell centres."""
    h, w = d.shape
    x0, x1, y0, y1 = extent
    dx, dy = (x1 - x0) / w, (y1 - y0) / h
    v = d.astype(np.float64) - level
    # Corners of each cell: bottom-left, bottom-right, top-right, top-left.
    a, b, c, e = v[:-1, :-1], v[:-1, 1:], v[1:, 1:], v[1:, :-1]
    iy, ix = np.mgrid[0:h - 1, 0:w - 1]
    cx, cy = x0 + (ix + 0.5) * dx, y0 + (iy + 0.5) * dy

    def cross(p, q):  # fraction along an edge where the sign changes (NaN if none)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = p / (p - q)
        return np.where((p > 0) != (q > 0), t, np.nan)

    tb, tr, tt, tl = cross(a, b), cross(b, c), cross(e, c), cross(a, e)
    points = [  # crossing point on each edge: bottom, right, top, left
        (cx + tb * dx, cy), (cx + dx, cy + tr * dy), (cx + tt * dx, cy + dy), (cx, cy + tl * dy)]
    has = [np.isfinite(t) for t in (tb, tr, tt, tl)]
    count = sum(h_.astype(int) for h_ in has)
    xs, ys = [], []
    # Two crossings: join them. Four (a saddle): pair by the sign of the cell's mean.
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    for i, j in pairs:
        m = (count == 2) & has[i] & has[j]
        xs.append(np.column_stack((points[i][0][m], points[j][0][m])))
        ys.append(np.column_stack((points[i][1][m], points[j][1][m])))
    saddle = count == 4
    if saddle.any():
        # The centre on a's side joins a and c, cutting off corners b and e; otherwise a and c are cut off.
        a_isolated = ((a + b + c + e) > 0)[saddle] != (a[saddle] > 0)
        for sel, cuts in ((a_isolated, ((0, 3), (1, 2))), (~a_isolated, ((0, 1), (2, 3)))):
            for p, q in cuts:
                xs.append(np.column_stack((points[p][0][saddle][sel], points[q][0][saddle][sel])))
                ys.append(np.column_stack((points[p][1][saddle][sel], points[q][1][saddle][sel])))
    return np.concatenate(xs).ravel(), np.concatenate(ys).ravel()


def arrow_segments(start: np.ndarray, vec: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Arrows (shaft and two barbs, as pairs) from `start` along `vec` on a FIXED scale, so that
    lengths compare over time: a gradient of norm g gets the length ARROW_FRACTION · width ·
    g / (g + ARROW_REF) (about proportional to g while small, never longer than the fraction)."""
    norm = np.hypot(vec[:, 0], vec[:, 1])
    finite = np.isfinite(norm)
    longest = ARROW_FRACTION * width
    with np.errstate(divide="ignore", invalid="ignore"):
        length = longest * norm / (norm + ARROW_REF)
        unit = np.where(norm[:, None] > 0, vec / norm[:, None], 0.0)
    keep = finite & (length > 1e-3 * longest)
    unit, length, start = unit[keep], length[keep, None], start[keep]
    tip = start + unit * length
    barb = 0.3 * length
    cos, sin = math.cos(math.radians(25)), math.sin(math.radians(25))
    back = -unit
    left = np.column_stack((back[:, 0] * cos - back[:, 1] * sin, back[:, 0] * sin + back[:, 1] * cos))
    right = np.column_stack((back[:, 0] * cos + back[:, 1] * sin, -back[:, 0] * sin + back[:, 1] * cos))
    seg = np.stack((start, tip, tip, tip + left * barb, tip, tip + right * barb), axis=1).reshape(-1, 2)
    return seg[:, 0], seg[:, 1]


def resample_stroke(stroke: np.ndarray, spacing: float) -> np.ndarray:
    """Points every `spacing` along a polyline (its first point included), so the drawn density
    follows the ink, not how fast the mouse moved. A single point stays a single point."""
    if len(stroke) < 2:
        return stroke.copy()
    seg = np.hypot(*np.diff(stroke, axis=0).T)
    s = np.concatenate(([0.0], np.cumsum(seg)))
    if s[-1] <= 0:
        return stroke[:1].copy()
    at = np.arange(0.0, s[-1] + 1e-12, spacing)
    return np.column_stack((np.interp(at, s, stroke[:, 0]), np.interp(at, s, stroke[:, 1])))


class DrawViewBox(pg.ViewBox):
    """A ViewBox that, while `drawing` is on, turns left-button drags and clicks into strokes
    (in data coordinates) instead of panning."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.drawing = False
        self.strokes: list[list[tuple[float, float]]] = []
        self.on_stroke = None  # called after each change of the strokes

    def mouseDragEvent(self, ev, axis=None):
        if not self.drawing or ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        if ev.isStart():
            p = self.mapSceneToView(ev.buttonDownScenePos())
            self.strokes.append([(p.x(), p.y())])
        if not self.strokes:
            return
        p = self.mapSceneToView(ev.scenePos())
        self.strokes[-1].append((p.x(), p.y()))
        if self.on_stroke is not None:
            self.on_stroke()

    def mouseClickEvent(self, ev):
        if not self.drawing or ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseClickEvent(ev)
        ev.accept()
        p = self.mapSceneToView(ev.scenePos())
        self.strokes.append([(p.x(), p.y())])
        if self.on_stroke is not None:
            self.on_stroke()


class View2D(ModeView):
    mode = "2d"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("view2d")
        self._extent: tuple[float, ...] | None = None
        self._static_points: dict = {}  # scatter item -> the array it shows (real points, mode centres)
        self._picture: Picture2D | None = None

        self.viewbox = DrawViewBox()
        self.viewbox.on_stroke = self._strokes_changed
        self.plot_widget = pg.PlotWidget(viewBox=self.viewbox,
                                         axisItems={"bottom": DataAxis("bottom"), "left": DataAxis("left")})
        plot = self.plot = self.plot_widget.getPlotItem()
        plot.setAspectLocked(True)
        plot.setLabel("bottom", "x₁")
        plot.setLabel("left", "x₂")
        self._axis_names = ("x₁", "x₂")
        cache_axes(plot)

        # Layers, bottom to top. Created once; show_snapshot only calls setImage / setData.
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        self.heatmap.setColorMap(D_COLORMAP)
        self.heatmap.setZValue(-10)
        plot.addItem(self.heatmap)
        # Horizontal, under the plot: a vertical bar would take width from the square plane.
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=D_COLORMAP, label="D(x)", interactive=False,
                                        width=12, orientation="horizontal")
        self.colorbar.setImageItem(self.heatmap, insert_in=plot)
        self.half_curve = pg.PlotDataItem([], [], pen=pg.mkPen(COLORS["half"], width=1.2, style=Qt.PenStyle.DashLine),
                                          connect="pairs")
        self.manifold = pg.PlotDataItem([], [], pen=pg.mkPen(COLORS["manifold"], width=1))
        self.real = pg.ScatterPlotItem(pxMode=True, size=3, pen=None, brush=pg.mkBrush(COLORS["real"]), name="real")
        self.fake = pg.ScatterPlotItem(pxMode=True, size=4, pen=None, brush=pg.mkBrush(COLORS["fake"]),
                                       name="generated")
        self.arrows = pg.PlotDataItem([], [], pen=pg.mkPen(COLORS["arrows"], width=1), connect="pairs")
        # Hollow rings: they mark the mixture's centres without hiding the real samples on them.
        self.centres = pg.ScatterPlotItem(pxMode=True, size=10, symbol="o", pen=pg.mkPen(COLORS["centres"], width=1.5),
                                          brush=None)
        self.stroke_curve = pg.PlotDataItem([], [], pen=pg.mkPen(COLORS["stroke"], width=2), connect="finite",
                                            symbol="o", symbolSize=3, symbolPen=None,
                                            symbolBrush=pg.mkBrush(COLORS["stroke"]))
        # The MLE fit (THEORY §6): each component's 1σ and 2σ ellipse.
        self.mle_ellipses = pg.PlotDataItem([], [], pen=pg.mkPen(MLE_COLOR, width=1.6, style=Qt.PenStyle.DashLine),
                                            connect="finite")
        for item in (self.half_curve, self.manifold, self.real, self.fake, self.arrows, self.centres,
                     self.stroke_curve, self.mle_ellipses):
            plot.addItem(item)
        # The key to the layers: each shown layer, in its colour (a layer hidden leaves the key).
        # Under the colour bar, in the plot's own layout: inside the plane it hid a corner of D(x).
        self.legend = pg.LegendItem(labelTextSize="8pt", colCount=2, verSpacing=-8, horSpacing=12)
        plot.layout.addItem(self.legend, plot.layout.rowCount(), 1)
        self._legend_height = 0.0
        self._legend_items = [("showReal", self.real, "real x"), ("showFake", self.fake, "generated G(z)"),
                              ("showManifold", self.manifold, "G(noise grid)"),
                              ("showArrows", self.arrows, "−∇ G loss"),
                              ("showCentres", self.centres, "mode centres"),
                              ("showHeatmap", self.half_curve, "D = ½"),
                              ("showMLE", self.mle_ellipses, "MLE fit 1σ, 2σ")]
        self.readout = pg.TextItem("", color="#222222", anchor=(0, 0), fill=pg.mkBrush(255, 255, 255, 190))
        self.readout.setParentItem(self.viewbox)  # fixed in the corner while the user pans
        self.readout.setPos(4, 4)

        self.history = HistoryPlot(HISTORY_SERIES_2D, HISTORY_GROUPS_2D, legend_above=True, toggle_columns=3)
        self._place_beside(self.plot_widget, self.history)

        self._controls = self._build_controls()
        self._layers = {
            "showHeatmap": (self.heatmap, self.half_curve),
            "showReal": (self.real,),
            "showFake": (self.fake,),
            "showManifold": (self.manifold,),
            "showArrows": (self.arrows,),
            "showCentres": (self.centres,),
            "showMLE": (self.mle_ellipses,),
        }
        for name, box in self.layer_boxes.items():
            box.toggled.connect(lambda on, name=name: self._layer_toggled(name, on))
            for item in self._layers[name]:
                item.setVisible(box.isChecked())
        self._rebuild_legend()

    def _layer_toggled(self, name: str, on: bool) -> None:
        for item in self._layers[name]:
            item.setVisible(on)
        if name == "showHeatmap":  # faded, not hidden: a hidden colour bar gives its room away and the plane jumps
            self.colorbar.setOpacity(1.0 if on else 0.0)
        self._rebuild_legend()
        if on:
            self._draw_derived()

    def _rebuild_legend(self) -> None:
        self.legend.clear()
        if not self._legend_height:  # as tall as with every layer: hiding one must not move the plane
            for _, item, label in self._legend_items:
                self.legend.addItem(item, label)
            self._legend_height = self.legend.layout.effectiveSizeHint(Qt.SizeHint.PreferredSize).height()
            self.legend.setMinimumHeight(self._legend_height)
            self.legend.clear()
        for name, item, label in self._legend_items:
            if self.layer_boxes[name].isChecked():
                self.legend.addItem(item, label)

    def legend_labels(self) -> list[str]:
        return [label.text for _, label in self.legend.items]

    # --- controls -------------------------------------------------------------------------------
    def _build_controls(self) -> QWidget:
        box = QWidget()
        form = QFormLayout(box)
        form.setContentsMargins(0, 0, 0, 0)
        defaults = MODE_DEFAULTS["2d"]

        self.noise = NoiseControls(self, form, "dimension of z; 1 makes P_G a curve, 2 a warped sheet")
        self.noise_dim_spin, self.noise_combo = self.noise.dim_spin, self.noise.combo

        self.spread_spin = QDoubleSpinBox(objectName="spreadSpin")
        self.spread_spin.setRange(0.1, 50.0)
        self.spread_spin.setDecimals(2)
        self.spread_spin.setSingleStep(0.25)
        self.spread_spin.setValue(float(defaults.get("spread", 1.0)))
        self.spread_spin.setKeyboardTracking(False)
        self.spread_spin.setToolTip("multiplies σ of the target's Gaussians (restarts the run)")
        self.spread_spin.valueChanged.connect(lambda s: self.restart_requested.emit({"spread": s}))
        form.addRow("Spread ×σ", self.spread_spin)

        layers = QGridLayout()
        self.layer_boxes: dict[str, QCheckBox] = {}
        labels = [("showHeatmap", "D(x) heatmap", (33, 102, 172)), ("showReal", "real samples", COLORS["real"]),
                  ("showFake", "generated", COLORS["fake"]), ("showManifold", "G(noise grid)", COLORS["manifold"]),
                  ("showArrows", "−∇ G loss", COLORS["arrows"]), ("showCentres", "mode centres", COLORS["centres"])]
        for i, (name, text, color) in enumerate(labels):
            cb = QCheckBox(text, objectName=name)
            cb.setChecked(name != "showArrows")
            cb.setIcon(_swatch(color))  # the layer's colour, as in the key on the plane
            cb.setToolTip(LAYER_TIPS[name])
            layers.addWidget(cb, i // 2, i % 2)
            self.layer_boxes[name] = cb
        form.addRow(layers)
        self.mle_controls = MLEControls()
        self.layer_boxes["showMLE"] = self.mle_controls.check  # hidden and keyed like the other layers
        self.mle_controls.check.setIcon(_swatch(MLE_COLOR))
        form.addRow(self.mle_controls)
        self.equal_aspect_box = QCheckBox("Equal aspect", objectName="equalAspect")
        self.equal_aspect_box.setToolTip(
            "one unit as long on both axes. Off: a point set whose axes' spreads differ by more than "
            f"{ASPECT_LIMIT:g}× has each axis scaled to its own spread (else the data is a thin line)")
        self.equal_aspect_box.toggled.connect(self._aspect_toggled)
        form.addRow(self.equal_aspect_box)

        self.draw_button = QPushButton("Draw", objectName="drawButton", checkable=True)
        self.draw_button.setToolTip("drag on the plot to draw a target (panning is off while drawing)")
        self.draw_button.toggled.connect(self._draw_toggled)
        self.apply_draw_button = QPushButton("Apply drawing", objectName="applyDrawButton")
        self.apply_draw_button.setToolTip("make the drawing the target P_data (starts every lane again); the strokes "
                                          "give way to its samples")
        self.apply_draw_button.clicked.connect(self.apply_drawing)
        self.clear_draw_button = QPushButton("Clear drawing", objectName="clearDrawButton")
        self.clear_draw_button.setToolTip("erase the strokes drawn so far")
        self.clear_draw_button.clicked.connect(self.clear_drawing)
        self.load_points_button = QPushButton("Load points…", objectName="loadPointsButton")
        self.load_points_button.setToolTip("a .csv (two numeric columns, optional header naming them) or .npy (N×2) "
                                           "file; trained standardised, shown in its own units, P_data a KDE with "
                                           "Scott's rule per axis")
        self.load_points_button.clicked.connect(self._choose_points_file)
        targets = QGridLayout()  # two by two: three in a row made the side panel too wide at 1024 px
        for i, b in enumerate((self.draw_button, self.apply_draw_button, self.clear_draw_button,
                               self.load_points_button)):
            targets.addWidget(b, i // 2, i % 2)
        form.addRow(targets)
        form.addRow(self._point_load_row())
        self.targets_hint = hint_label(TARGETS_HINT)
        form.addRow(self.targets_hint)
        return box

    def extra_controls(self) -> QWidget:
        return self._controls

    def config_changes(self) -> dict[str, Any]:
        return {**self.noise.values(), "spread": self.spread_spin.value()}

    def sync_to_config(self, cfg) -> None:
        """Show cfg's noise_dim, noise and spread in the controls without asking for a restart."""
        self.noise.sync(cfg)
        self.spread_spin.blockSignals(True)
        self.spread_spin.setValue(cfg.spread)
        self.spread_spin.blockSignals(False)

    # --- targets from the user ------------------------------------------------------------------
    def _draw_toggled(self, on: bool) -> None:
        self.viewbox.drawing = on
        self.viewbox.setMouseEnabled(x=not on, y=not on)
        self.stroke_curve.setVisible(on or bool(self.viewbox.strokes))
        if on:
            self.message.emit("Draw: drag on the plot to draw the target, then press “Apply drawing”.")

    def drawn_points(self) -> np.ndarray:
        """The strokes resampled every STROKE_SPACING of the view's width, as (N, 2)."""
        if not self.viewbox.strokes:
            return np.empty((0, 2))
        (x0, x1), _ = self.viewbox.viewRange()
        spacing = STROKE_SPACING * (x1 - x0)
        parts = [resample_stroke(np.asarray(s, dtype=np.float64), spacing) for s in self.viewbox.strokes]
        points = np.concatenate(parts)
        return points[np.isfinite(points).all(axis=1)][:MAX_DRAWN_POINTS]

    def _strokes_changed(self) -> None:
        xs, ys = [], []
        for stroke in self.viewbox.strokes:
            s = np.asarray(stroke, dtype=np.float64)
            xs += [s[:, 0], [np.nan]]
            ys += [s[:, 1], [np.nan]]
        if xs:
            self.stroke_curve.setData(np.concatenate(xs), np.concatenate(ys))
        else:
            self.stroke_curve.setData([], [])
        self.stroke_curve.setVisible(True)

    def apply_drawing(self) -> None:
        points = self.drawn_points()
        if len(points) == 0:
            self.message.emit("Nothing drawn yet: press “Draw”, then drag on the plot.")
            return
        self.restart_requested.emit({"dataset": "drawn", "extra": {"points": points.round(6).tolist()}})
        self.clear_drawing()  # the drawing is the target now (its samples show it); drawing ends, panning is back
        self.draw_button.setChecked(False)

    def clear_drawing(self) -> None:
        self.viewbox.strokes.clear()
        self.stroke_curve.setData([], [])

    def _choose_points_file(self) -> None:
        self._choose_point_file("Load 2-D points", "Point sets", 2, ("points", "points"))

    def load_points_file(self, path: str) -> None:
        """Read `path` in the background and, if it is a usable point file, start a run on it."""
        self._load_point_file(path, 2, ("points", "points"))

    # --- drawing snapshots ----------------------------------------------------------------------
    def show_snapshot(self, snap: Snapshot) -> None:
        pic = snap.views
        if isinstance(pic, Picture2D):
            extent = tuple(float(e) for e in pic.d.extent)
            x0, x1, y0, y1 = extent
            self.heatmap.setImage(pic.d.values, levels=pic.d_range, autoLevels=False)
            if extent != self._extent:  # a new target: frame its region once, then leave zoom to the user
                self._extent = extent
                self.heatmap.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))  # after setImage: scales by its size
                frame_plane(self.plot, extent, equal_aspect(extent, self.equal_aspect_box.isChecked()))
            if self.targets_hint.text() != (pic.target_note or TARGETS_HINT):  # a point file: its KDE
                self.targets_hint.setText(pic.target_note or TARGETS_HINT)
            if pic.axis_names != self._axis_names:  # the data file's column names
                self._axis_names = pic.axis_names
                self.plot.setLabel("bottom", pic.axis_names[0])
                self.plot.setLabel("left", pic.axis_names[1])
            self._picture = pic
            self._draw_derived()
            self.fake.setData(pos=pic.fake.points)
            self._set_manifold(pic.manifold.lines)
            # The real points and the mode centres are the same objects for a whole run: a scatter's
            # setData is costly Python (GIL time taken from training), so only a new one is set.
            for item, layer in ((self.real, pic.real), (self.centres, pic.centres)):
                if layer is not self._static_points.get(item):
                    self._static_points[item] = layer
                    item.setData(pos=layer.points if layer is not None else np.empty((0, 2)))
        self.readout.setText(readout_text(snap.target, snap.metrics))
        self.history.update_history(snap.history)

    def _draw_derived(self) -> None:
        """The layers computed from the views here (the D = 1/2 contour, the arrows), only while
        shown; a layer switched on draws the latest views at once (they may be old when paused)."""
        pic = self._picture
        if pic is None:
            return
        if self.layer_boxes["showHeatmap"].isChecked():  # D's midpoint: ½ for a probability, 0 for a critic
            self.half_curve.setData(*half_contour(pic.d.values, pic.d.extent, level=sum(pic.d_range) / 2))
        if self.layer_boxes["showArrows"].isChecked():
            x0, x1, y0, y1 = pic.d.extent
            # Axes scaled to the data's spreads: the arrows are drawn in the region's own proportions
            # (y as if in x's units), so their barbs are not sheared by the unequal aspect.
            r = 1.0 if equal_aspect(pic.d.extent, self.equal_aspect_box.isChecked()) else (y1 - y0) / (x1 - x0)
            squash = np.array([1.0, 1.0 / r])
            xs, ys = arrow_segments(pic.arrows.origins * squash, pic.arrows.vectors * squash, x1 - x0)
            self.arrows.setData(xs, ys * r)

    def _aspect_toggled(self, _on: bool) -> None:
        if self._extent is not None:
            frame_plane(self.plot, self._extent, equal_aspect(self._extent, self.equal_aspect_box.isChecked()))
            self._draw_derived()

    def show_mle(self, layer) -> None:
        """Draw the MLE fit's components as their 1σ and 2σ ellipses (a frame's MLELayer), or nothing."""
        self.mle_ellipses.setData(*mle_ellipses(layer))
        name = f"MLE fit K = {layer.components}: 1σ, 2σ" if layer is not None else "MLE fit 1σ, 2σ"
        i = next(i for i, entry in enumerate(self._legend_items) if entry[0] == "showMLE")
        self._legend_items[i] = ("showMLE", self.mle_ellipses, name)
        label = next((lab for it, lab in self.legend.items if it.item is self.mle_ellipses), None)
        if label is not None and label.text != name:
            label.setText(name)

    def _set_manifold(self, lines: np.ndarray) -> None:
        n_lines, n_points, _ = lines.shape
        connect = np.ones(n_lines * n_points, dtype=bool)
        connect[n_points - 1::n_points] = False  # break between polylines
        flat = lines.reshape(-1, 2)
        self.manifold.setData(flat[:, 0], flat[:, 1], connect=connect)

    def clear(self) -> None:
        self.clear_drawing()  # a new run (a new target, mode or drawing applied): old strokes go
        self.draw_button.setChecked(False)
        self.heatmap.clear()
        self._extent = None
        self._picture = None
        for item in (self.half_curve, self.manifold, self.arrows):
            item.setData([], [])
        for item in (self.real, self.fake, self.centres):
            item.setData(pos=np.empty((0, 2)))
        self._static_points = {}
        self.readout.setText("")
        self.history.clear()


ELLIPSE_POINTS = 64


def mle_ellipses(layer) -> tuple[np.ndarray, np.ndarray]:
    """x, y of every component's 1σ and 2σ ellipse {μ + n·Σ^½ u : |u| = 1}, n = 1, 2, each closed
    and separated from the next by NaN (for connect="finite"); empty without a layer."""
    if layer is None or layer.means.shape[1] != 2:
        return np.empty(0), np.empty(0)
    t = np.linspace(0.0, 2 * np.pi, ELLIPSE_POINTS + 1)
    circle = np.stack((np.cos(t), np.sin(t)), axis=1)                        # (P, 2)
    vals, vecs = np.linalg.eigh(layer.covariances)                            # (K, 2), (K, 2, 2)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]               # Σ^½ up to a rotation
    parts = []
    for n in (1.0, 2.0):
        pts = layer.means[:, None, :] + n * np.einsum("kij,pj->kpi", root, circle)  # (K, P, 2)
        parts.append(np.concatenate((pts, np.full((len(pts), 1, 2), np.nan)), axis=1))
    flat = np.concatenate(parts).reshape(-1, 2)
    return flat[:, 0], flat[:, 1]


def readout_text(target: str, m: dict[str, float]) -> str:
    """The target's short name and the latest JSD, mode coverage and bound, in two short lines for
    the plot's corner (taller, it hid the top of D(x) whenever the plane is about square)."""
    first = [target.split(":")[0]] if target else []
    second = []
    jsd = m.get("jsd", math.nan)
    if math.isfinite(jsd):
        first.append(f"JSD {jsd:.3f} nats")
        bound = m.get("jsd_d", math.nan)
        loose = math.isfinite(bound) and (bound < 0 or bound < 0.5 * jsd)
        second.append(f"lower bound (V+log 4)/2 {bound:.3f}" + ("  (D far from D*: says little)" if loose else ""))
    modes, hq = m.get("modes", math.nan), m.get("hq", math.nan)
    if math.isfinite(modes):
        first.append(f"modes {modes:.0f} · high quality {100 * hq:.0f}%")
    return "\n".join(line for line in (" · ".join(first), "".join(second)) if line)


def retitle(plot, titles: tuple[str, str]) -> None:
    """New bottom and left titles on a small multiple's axes that show one (the grid's outer lanes)."""
    for side, text in zip(("bottom", "left"), titles):
        if plot.getAxis(side).label.isVisible():
            plot.setLabel(side, text, **{"font-size": "8pt"})


def _swatch(color) -> "QIcon":
    """A small square of `color` for a layer's check box."""
    from PySide6.QtGui import QColor, QIcon, QPixmap

    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(*color) if isinstance(color, tuple) else QColor(color))
    return QIcon(pixmap)


class Lane2D(LaneView):
    """One lane of the 2-D mode as a small multiple: D(x) as a heatmap, real and generated points."""

    full_view = View2D
    axis_titles = ("x₁", "x₂")
    key = (f"<span style='color:{COLORS['real']}'>● real</span> &nbsp; "
           f"<span style='color:{COLORS['fake']}'>● generated</span> &nbsp; "
           "background: D(x) from <span style='color:#b2182b'>0</span> to <span style='color:#2166ac'>1</span> &nbsp; "
           f"<span style='color:{MLE_COLOR}'>╌ MLE fit</span> (when on)")

    # A small multiple fills its cell, a unit on one axis up to 1.25 times as long as on the other (the
    # ticks say so); the full view keeps one unit as long on both. Locked at 1, four lanes side by side
    # left half of each cell's width empty; at 1.5 the ring of ring8 read as a clear ellipse.
    plane_stretch = 1.25

    def __init__(self, lane_id: int, color: str, parent=None):
        super().__init__(lane_id, color, parent)
        widget, plot = self._small_plot()
        plot.vb.sigResized.connect(self._frame_plane)
        plot.setAxisItems({"bottom": DataAxis("bottom"), "left": DataAxis("left")})  # any scale and offset
        for name in ("left", "bottom"):
            plot.getAxis(name).setStyle(tickFont=small_font(), tickLength=-3)
        cache_axes(plot)
        plot.setAspectLocked(True)
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        self.heatmap.setColorMap(D_COLORMAP)
        self.heatmap.setZValue(-10)
        self.real = pg.ScatterPlotItem(pxMode=True, size=2, pen=None, brush=pg.mkBrush(COLORS["real"]))
        self.fake = pg.ScatterPlotItem(pxMode=True, size=3, pen=None, brush=pg.mkBrush(COLORS["fake"]))
        self.mle_ellipses = pg.PlotDataItem([], [], pen=pg.mkPen(MLE_COLOR, width=1.2, style=Qt.PenStyle.DashLine),
                                            connect="finite")
        for item in (self.heatmap, self.real, self.fake, self.mle_ellipses):
            plot.addItem(item)
        self._extent = None
        self._real = None
        self._add_graphics(widget)

    def _frame_plane(self, *_) -> None:
        """Frame the target's region; at equal aspect, stretched within plane_stretch to fill the cell."""
        extent = self._extent
        if extent is None:
            return
        if not equal_aspect(extent):
            frame_plane(self.plot, extent, False)
            return
        x0, x1, y0, y1 = extent
        box = self.plot.vb
        ratio = 1.0  # x px per unit / y px per unit, the cell's shape over the region's
        if box.width() > 1 and box.height() > 1:
            ratio = (box.width() / (x1 - x0)) / (box.height() / (y1 - y0))
            ratio = min(max(ratio, 1 / self.plane_stretch), self.plane_stretch)
        self.plot.setAspectLocked(True, ratio=ratio)
        self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)

    def plane_aspect(self) -> float | None:
        """The target's region is drawn with equal aspect (a square region until the first picture)."""
        if self._extent is None:
            return 1.0
        x0, x1, y0, y1 = self._extent
        return (y1 - y0) / (x1 - x0) if equal_aspect(self._extent) and x1 > x0 else None

    def link(self, first: LaneView) -> None:
        """Every lane frames the same target region (the lanes share P_data), so the axes agree
        without pyqtgraph's links, which fight the locked aspect ratio."""

    def draw(self, pic) -> None:
        if not isinstance(pic, Picture2D):
            return
        extent = tuple(float(e) for e in pic.d.extent)
        self.heatmap.setImage(pic.d.values, levels=pic.d_range, autoLevels=False)
        if extent != self._extent:
            self._extent = extent
            x0, x1, y0, y1 = extent
            self.heatmap.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            self._frame_plane()
        if pic.axis_names != self.axis_titles:  # a data file's column names, where the grid shows titles
            self.axis_titles = pic.axis_names
            retitle(self.plot, self.axis_titles)
        if pic.real is not self._real:  # the same object for a whole run
            self._real = pic.real
            self.real.setData(pos=pic.real.points)
        self.fake.setData(pos=pic.fake.points)

    def clear(self) -> None:
        super().clear()
        self.heatmap.clear()
        self._extent = self._real = None
        for item in (self.real, self.fake):
            item.setData(pos=np.empty((0, 2)))

    def show_mle(self, layer) -> None:
        """The MLE fit's 1σ and 2σ ellipses over this lane's P_data (every lane shares P_data)."""
        self.mle_ellipses.setData(*mle_ellipses(layer))
