"""The 1-D view: P_data, P_G, D(x), D*(x) and G's mapping of the noise on one plot, divergences below."""

from __future__ import annotations

from typing import Any

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGraphicsItem, QPushButton, QVBoxLayout, QWidget

from ganviz.core.config import MODE_DEFAULTS
from ganviz.core.snapshot import Snapshot
from ganviz.core.toy1d import X_RANGE, Picture1D
from ganviz.ui.base import LaneView, ModeView, NoiseControls, hint_label, small_font
from ganviz.ui.history_plot import LEGEND_BRUSH, LEGEND_PEN, HistoryPlot, Series, cache_axes
from ganviz.ui.mle_table import MLE_COLOR, MLEControls

D_AXIS_LABEL = "probability D(x), D*(x)"
DATA_HINT = "Your own data: a 1-column CSV or a .npy of values."
PLOT_TIP = ("<b>P_data</b> (black, filled): the target density. <b>P_G</b> (green): the density of G(z), the "
            "generator's samples. Both on the left axis (density).<br><b>D(x)</b> (blue): the discriminator's "
            "probability that x is real; <b>D*(x)</b> (orange, dashed) = p_data/(p_data+p_G), the best D for this "
            "G (Prop. 1). Both on the right axis (probability); at equilibrium P_G = P_data and D* = ½ "
            "everywhere.<br>Below: G's mapping from the noise z (lower line) to x = G(z) (upper line), as in "
            "Goodfellow et al., Fig. 1: where the lines bunch up, P_G is dense.")
COLORS = {
    "p_data": "#222222",
    "p_g": "#2ca02c",
    "d": "#1f77b4",
    "d_star": "#ff7f0e",
    "jsd": "#d62728",
    "jsd_d": "#1f77b4",
    "kl": "#8c564b",
    "d_loss": "#9467bd",
    "g_loss": "#2ca02c",
    "d_real": "#17becf",
    "d_fake": "#e377c2",
}
# Where the noise axis and the data axis of the mapping (Goodfellow et al., Fig. 1) are drawn.
Z_LEVEL, X_LEVEL = -0.32, -0.06
Z_AXIS_LABELS = {
    True: "z",  # 1-D noise: the lines are z → G(z)
    False: "noise z → x = G(z): each line joins a quantile of the noise to the same quantile of P_G",
}

TIPS = {
    "jsd": "Jensen–Shannon divergence between P_data and P_G (nats), from the densities: 0 when P_G = P_data, "
           "at most log 2 ≈ 0.693. Training with an optimal D minimises it (Goodfellow et al., Thm. 1)",
    "jsd_d": "lower bound on the JSD from the current D: (V(G,D)+log 4)/2 ≤ JSD, equal only when D = D*. "
             "Far from D* (e.g. at the start) it means little and may be negative; Fit D* makes it tight",
    "kl": "KL(P_data‖P_G) in nats: large where P_G misses mass of P_data (mode dropping); not what a GAN minimises",
    "d_loss": "the discriminator's loss on the last batch (for the paper's D: −log D(x) − log(1 − D(G(z))); "
              "2 log 2 ≈ 1.386 when D cannot tell real from generated)",
    "g_loss": "the generator's loss on the last batch (the G loss chosen in the panel)",
    "d_real": "mean D(x) on real samples: the probability D gives real data of being real (½ at equilibrium)",
    "d_fake": "mean D(G(z)) on generated samples (½ at equilibrium; near 0 when minimax saturates)",
}
HISTORY_SERIES_TOY = [
    Series("jsd", "JSD(P_data‖P_G)", COLORS["jsd"], "div", tip=TIPS["jsd"]),
    Series("jsd_d", "(V(G,D)+log 4)/2", COLORS["jsd_d"], "div", dashed=True, tip=TIPS["jsd_d"]),
    Series("kl", "KL(P_data‖P_G)", COLORS["kl"], "div", visible=False, tip=TIPS["kl"]),
    Series("d_loss", "D loss", COLORS["d_loss"], "loss", smooth=True, tip=TIPS["d_loss"]),
    Series("g_loss", "G loss", COLORS["g_loss"], "loss", smooth=True, tip=TIPS["g_loss"]),
    Series("d_real", "mean D(x), real", COLORS["d_real"], "prob", visible=False, tip=TIPS["d_real"]),
    Series("d_fake", "mean D(G(z))", COLORS["d_fake"], "prob", visible=False, tip=TIPS["d_fake"]),
]
HISTORY_GROUPS_TOY = {"div": "nats", "loss": "loss", "prob": "mean D"}


def precise_ticks(values, spacing: float) -> list[str] | None:
    """Tick labels with as many significant digits as the spacing needs (1000000001, 1000000002 for
    data at 1e9 ± 2.5, where pyqtgraph's %g writes 1e+09 on every tick); None where its own labels are
    already distinct (values between 10⁻³ and 10⁴)."""
    values = [float(v) for v in values]
    top = max((abs(v) for v in values), default=0.0)
    if not values or spacing <= 0 or not math.isfinite(top) or 1e-3 <= top < 1e4:
        return None
    magnitude = math.floor(math.log10(top)) if top > 0 else 0
    # as many digits as the spacing needs, and whole numbers written out (1000000050, not 1.00000005e+09)
    digits = max(1, magnitude - math.floor(math.log10(spacing)) + 1, magnitude + 1)
    return [f"{v:.{min(digits, 17)}g}" if abs(v) > 1e-12 * top else "0" for v in values]


class DataAxis(pg.AxisItem):
    """An axis in the data's own units at any scale and offset (see precise_ticks)."""

    def tickStrings(self, values, scale, spacing):
        return precise_ticks([v * scale for v in values], spacing * scale) or super().tickStrings(values, scale,
                                                                                                    spacing)


class BandAxis(pg.AxisItem):
    """An axis with ticks only over [lo, hi] (none on the z → x band below the densities), and, for a D
    that is not a probability (LSGAN, a critic), tick labels in D's own units: the plot draws D's span
    `span` onto [0, 1] (see d_on_axis), and the labels say which value of D each height is.
    With `affine` (offset, factor) the plot is in a data file's standardised units and the ticks are
    placed and labelled in the data's own, offset + factor · v (round numbers of the data's units)."""

    def __init__(self, orientation: str, lo: float, hi: float, **kwargs):
        super().__init__(orientation, **kwargs)
        self.lo, self.hi = lo, hi
        self.span = (0.0, 1.0)
        self.affine = (0.0, 1.0)

    def tickValues(self, minVal, maxVal, size):
        offset, factor = self.affine
        ticks = super().tickValues(offset + factor * minVal, offset + factor * maxVal, size)
        ticks = [(spacing / factor, [(v - offset) / factor for v in values]) for spacing, values in ticks]
        return [(spacing, [v for v in values if self.lo - 1e-9 <= v <= self.hi + 1e-9]) for spacing, values in ticks]

    def tickStrings(self, values, scale, spacing):
        lo, hi = self.span
        offset, factor = self.affine
        if (offset, factor) != (0.0, 1.0):
            shown = [offset + factor * v for v in values]
            return precise_ticks(shown, spacing * factor) or super().tickStrings(shown, 1.0, spacing * factor)
        if (lo, hi) == (0.0, 1.0):
            return precise_ticks([v * scale for v in values], spacing * scale) or super().tickStrings(
                values, scale, spacing)
        return [f"{lo + v * (hi - lo):.3g}" for v in values]

    def set_affine(self, offset: float, factor: float) -> None:
        if (offset, factor) != self.affine:
            self.affine = (float(offset), float(factor))
            self.picture = None
            self.update()

    def set_span(self, span: tuple[float, float]) -> None:
        if tuple(span) != self.span:
            self.span = tuple(span)
            self.picture = None
            self.update()


def set_units(plot: pg.PlotItem, units, name: str, density_axis: BandAxis | None = None) -> None:
    """Label a 1-D plot drawn in standardised x in the data's own units (`units`: a Standardisation,
    or None for a built-in target): x = mean + scale·x_std, densities per unit of x divided by scale."""
    mean, scale = (0.0, 1.0) if units is None else (float(units.mean[0]), float(units.scale[0]))
    bottom = plot.getAxis("bottom")
    if isinstance(bottom, BandAxis):
        bottom.set_affine(mean, scale)
    if density_axis is not None:
        density_axis.set_affine(0.0, 1.0 / scale)
    plot.setLabel("bottom", name)


class View1D(ModeView):
    mode = "1d"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("view1d")
        self.density_axis = BandAxis("left", 0.0, np.inf)
        self.d_axis = BandAxis("right", 0.0, 1.0)
        self.x_axis = BandAxis("bottom", -np.inf, np.inf)
        self.plot_widget = pg.PlotWidget(axisItems={"left": self.density_axis, "right": self.d_axis,
                                                    "bottom": self.x_axis})
        plot = self.plot = self.plot_widget.getPlotItem()
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.showAxis("right")
        plot.setLabel("bottom", "x")
        plot.setLabel("left", "density p(x)  (P_data, P_G)")
        plot.setLabel("right", D_AXIS_LABEL)
        self.d_axis.setPen(pg.mkPen(COLORS["d"]))
        self.d_axis.setTextPen(pg.mkPen(COLORS["d"]))
        plot.setXRange(*X_RANGE, padding=0)
        plot.setYRange(Z_LEVEL - 0.06, 1.12, padding=0)  # room above D = 1 for the target's title
        # The key in one row under the x axis: inside the plot's corner it hid D and D* where they are near 1.
        plot.legend = pg.LegendItem(labelTextSize="9pt", brush=LEGEND_BRUSH, pen=LEGEND_PEN, colCount=4,
                                    verSpacing=-4, horSpacing=14)
        plot.legend.layout.setContentsMargins(4, 1, 4, 1)  # one text line high: the plot keeps its height
        plot.layout.addItem(plot.legend, plot.layout.rowCount(), 1)
        plot.layout.setAlignment(plot.legend, Qt.AlignmentFlag.AlignHCenter)
        plot.setMouseEnabled(x=True, y=True)
        cache_axes(plot)
        self.plot_widget.setToolTip(PLOT_TIP)

        self.p_data_curve = plot.plot([], [], pen=pg.mkPen(COLORS["p_data"], width=2), fillLevel=0,
                                      brush=pg.mkBrush(30, 30, 30, 45), name="P_data")
        # The curves that change with every snapshot are bare PlotCurveItems: PlotDataItem's extra
        # Python work per setData/paint is GIL time taken from the training thread.
        self.p_g_curve = self._curve(plot, "P_G", pen=pg.mkPen(COLORS["p_g"], width=2.5))
        self.d_curve = self._curve(plot, "D(x)", pen=pg.mkPen(COLORS["d"], width=2.5))
        self.d_star_curve = self._curve(plot, "D*(x) = p_data/(p_data+p_G)", connect="finite",
                                        pen=pg.mkPen(COLORS["d_star"], width=2, style=Qt.PenStyle.DashLine))
        self.half_line = pg.InfiniteLine(pos=0.5, angle=0, pen=pg.mkPen("#888888", width=1, style=Qt.PenStyle.DotLine),
                                         label="D = 1/2", labelOpts={"position": 0.9, "color": "#666666", "anchors": [(1, 1), (1, 1)]})
        plot.addItem(self.half_line)
        # G's mapping: one segment per noise quantile, from z (on the lower axis) to G(z).
        self.mapping = self._curve(plot, None, pen=pg.mkPen(60, 160, 60, 110, width=1), connect="pairs")
        # The MLE fit (THEORY §6): in the legend only while its layer is on.
        self.mle_curve = self._curve(plot, None, pen=pg.mkPen(MLE_COLOR, width=2.5, style=Qt.PenStyle.DashDotLine))
        self.mle_curve.setVisible(False)
        self._mle_name = "MLE fit"
        self._static = []
        self.axis_labels = []
        for level, text in ((Z_LEVEL, Z_AXIS_LABELS[MODE_DEFAULTS["1d"]["noise_dim"] == 1]), (X_LEVEL, "x = G(z)")):
            line = pg.InfiniteLine(pos=level, angle=0, pen=pg.mkPen("#999999", width=1))
            label = pg.TextItem(text, color="#555555", anchor=(0, 1))
            label.setPos(X_RANGE[0] + 0.05, level)
            for item in (line, label):
                plot.addItem(item)
                self._static.append(item)
            self.axis_labels.append(label)
        # P_G can peak far above the plot (a narrow P_G at the start, the spikes where a 1-D G folds):
        # say so at the top rather than cut the curve without a sign.
        self.off_scale = pg.TextItem("", color=COLORS["p_g"], anchor=(0.5, 0))
        plot.addItem(self.off_scale)
        self.title = pg.TextItem("", color="#333333", anchor=(1, 0))
        plot.addItem(self.title)
        self.title.setPos(X_RANGE[1] - 0.05, 1.11)

        # Items that change only with the target are painted from cached pixmaps: every Python paint()
        # call holds the GIL that the training thread needs.
        for item in (self.p_data_curve.curve, self.half_line, self.title, *self._static):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

        self._p_data = None  # the P_data array drawn (the task's own, unchanged during a run)
        self._units = (None, "x")  # a data file's units and column name (None: a built-in target)
        self._d_label = "D(x)"
        self.history = HistoryPlot(HISTORY_SERIES_TOY, HISTORY_GROUPS_TOY)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget, 3)
        layout.addWidget(self.history, 2)
        self._controls = self._build_controls()

    @staticmethod
    def _curve(plot: pg.PlotItem, name: str | None, **options) -> pg.PlotCurveItem:
        curve = pg.PlotCurveItem([], [], **options)
        plot.addItem(curve)
        if name is not None:
            plot.legend.addItem(curve, name)
        return curve

    def _build_controls(self) -> QWidget:
        box = QWidget()
        form = QFormLayout(box)
        form.setContentsMargins(0, 0, 0, 0)
        self.noise = NoiseControls(
            self, form, "dimension of z. With 1, G must fold the line onto each mode and P_G gets spikes "
                        "where G turns (p_G = p_z/|G′|); with more, P_G is smooth")
        form.addRow(hint_label("Noise dim 1 shows G itself in the z → x lines (Goodfellow Fig. 1); "
                               "with more, the lines join equal quantiles of P_z and P_G."))
        self.mle_controls = MLEControls()
        self.mle_controls.check.toggled.connect(self._mle_toggled)
        form.addRow(self.mle_controls)
        self.load_data_button = QPushButton("Load data…", objectName="loadDataButton")
        self.load_data_button.setToolTip("your own 1-D data as P_data: a .csv with one numeric column (optional "
                                         "header) or a .npy of shape (N,) or (N, 1); trained standardised, shown "
                                         "in its own units, P_data a KDE with Scott's rule")
        self.load_data_button.clicked.connect(self._choose_data_file)
        form.addRow(self.load_data_button)
        form.addRow(self._point_load_row())
        self.data_hint = hint_label(DATA_HINT)
        form.addRow(self.data_hint)
        return box

    # --- the MLE layer (THEORY §6) ----------------------------------------------------------------
    def _mle_toggled(self, on: bool) -> None:
        self.mle_curve.setVisible(on)
        legend = self.plot.legend
        if on and legend.getLabel(self.mle_curve) is None:
            legend.addItem(self.mle_curve, self._mle_name)
        elif not on:
            legend.removeItem(self.mle_curve)

    def show_mle(self, layer) -> None:
        """Draw the MLE fit's density (a frame's MLELayer), or nothing while there is none."""
        if layer is None or layer.density is None:
            self.mle_curve.setData([], [])
            return
        self.mle_curve.setData(layer.density.x, layer.density.y)
        name = f"MLE fit, K = {layer.components}"
        if name != self._mle_name:
            self._mle_name = name
            label = self.plot.legend.getLabel(self.mle_curve)
            if label is not None:
                label.setText(name)

    def _choose_data_file(self) -> None:
        self._choose_point_file("Load 1-D data", "Data", 1, ("data", "values"))

    def load_data_file(self, path: str) -> None:
        """Read `path` in the background and, if it is a usable 1-D data file, start a run on it."""
        self._load_point_file(path, 1, ("data", "values"))

    def extra_controls(self) -> QWidget:
        return self._controls

    def config_changes(self) -> dict[str, Any]:
        return self.noise.values()

    def sync_to_config(self, cfg) -> None:
        """Show cfg's noise settings in the controls and label the mapping to match."""
        self.noise.sync(cfg)
        self.axis_labels[0].setText(Z_AXIS_LABELS[cfg.noise_dim == 1])

    def show_snapshot(self, snap: Snapshot) -> None:
        pic = snap.views
        if isinstance(pic, Picture1D):
            x = pic.p_data.x
            if pic.units is not self._units[0] or pic.axis_name != self._units[1]:
                self._units = (pic.units, pic.axis_name)
                set_units(self.plot, pic.units, pic.axis_name, self.density_axis)
            if self.data_hint.text() != (pic.target_note or DATA_HINT):  # a data file: its KDE
                self.data_hint.setText(pic.target_note or DATA_HINT)
            if pic.p_data.y is not self._p_data:  # the same array for the whole run: keep its cached pixmap
                self._p_data = pic.p_data.y
                self.p_data_curve.setData(x, self._p_data)
            self.p_g_curve.setData(x, pic.p_g.y)
            top = self.plot.viewRange()[1][1]
            peak = int(np.nanargmax(pic.p_g.y)) if np.isfinite(pic.p_g.y).any() else -1
            if peak >= 0 and pic.p_g.y[peak] > top:
                self.off_scale.setText(f"↑ P_G peaks at {pic.p_g.y[peak]:.3g}")
                self._place_off_scale(float(x[peak]), top, snap.target)
            else:
                self.off_scale.setText("")
            self.d_curve.setData(x, d_on_axis(pic.d.y, pic.d_range))
            self.d_star_curve.setData(x, d_on_axis(pic.d_star.y, pic.d_range))
            if pic.d_label != self._d_label:
                self._d_label = pic.d_label
                self.plot.legend.getLabel(self.d_curve).setText(d_legend(pic))
                vanilla = pic.d_range == (0.0, 1.0)
                self.half_line.label.setFormat("D = ½" if vanilla else "mid-span of D")
                self.d_axis.set_span(pic.d_range)
                self.plot.setLabel("right", D_AXIS_LABEL if vanilla else
                                   f"{short_d_label(pic.d_label)}, not a probability")
                self.plot_widget.setToolTip(PLOT_TIP + ("" if vanilla else
                                            f"<br><b>Now:</b> {pic.d_label}; its values {pic.d_range[0]:.3g} … "
                                            f"{pic.d_range[1]:.3g} are drawn over the probability axis's 0 … 1 "
                                            "(right axis: D's own values)."))
            z, gz = pic.mapping.start, pic.mapping.end
            seg_x = np.empty(2 * len(z))
            seg_x[0::2], seg_x[1::2] = z, np.clip(gz, *X_RANGE)
            seg_y = np.empty_like(seg_x)
            seg_y[0::2], seg_y[1::2] = Z_LEVEL, X_LEVEL
            self.mapping.setData(seg_x, seg_y)
        if self.title.textItem.toPlainText() != snap.target:
            self.title.setText(snap.target)
        self.history.update_history(snap.history)

    def _place_off_scale(self, x_peak: float, top: float, title: str) -> None:
        """The "↑ P_G peaks at …" note above the peak, moved sideways to stay inside the plot and clear of
        the target's title (top right); under the title when there is no room beside it."""
        if self.title.textItem.toPlainText() != title:  # the title's width decides where the note goes
            self.title.setText(title)
        vb = self.plot.vb
        px, py = vb.viewPixelSize()
        half = 0.5 * self.off_scale.boundingRect().width() * px
        lo = vb.viewRange()[0][0] + 4 * px + half
        title_right = X_RANGE[1] - 0.05
        hi = title_right - self.title.boundingRect().width() * px - 4 * px - half
        if lo <= hi:
            self.off_scale.setAnchor((0.5, 0))
            self.off_scale.setPos(min(max(x_peak, lo), hi), top)
        else:
            self.off_scale.setAnchor((1, 0))
            self.off_scale.setPos(title_right, 1.11 - self.title.boundingRect().height() * py)

    def clear(self) -> None:
        for item in (self.p_data_curve, self.p_g_curve, self.d_curve, self.d_star_curve, self.mapping):
            item.setData([], [])
        self._p_data = None
        self.history.clear()


def d_on_axis(y: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    """D's values placed on the plot's [0, 1] probability axis: a probability as it is, an LSGAN D or a
    critic (whose values span `span`) mapped linearly, so its midpoint sits on the D = 1/2 line."""
    lo, hi = span
    if (lo, hi) == (0.0, 1.0):
        return y
    return (y - lo) / (hi - lo)


def d_legend(pic: Picture1D) -> str:
    if pic.d_range == (0.0, 1.0):
        return "D(x)"
    return f"{short_d_label(pic.d_label)} (right axis: its values)"


def short_d_label(label: str) -> str:
    """"critic f(x) (WGAN: no pointwise optimum)" → "critic f(x)": the axis and the legend stay short
    (the full label is in the plot's tooltip)."""
    return label.split(" (")[0]


class Lane1D(LaneView):
    """One lane of the 1-D mode as a small multiple: P_data, P_G, D(x) and D*(x)."""

    full_view = View1D
    axis_titles = ("x", "p(x) · D(x)")
    key = (f"<span style='color:{COLORS['p_data']}'>▬ P_data</span> &nbsp; "
           f"<span style='color:{COLORS['p_g']}'>▬ P_G</span> &nbsp; "
           f"<span style='color:{COLORS['d']}'>▬ D(x)</span> &nbsp; "
           f"<span style='color:{COLORS['d_star']}'>╌ D*(x)</span> &nbsp; "
           f"<span style='color:{MLE_COLOR}'>-·- MLE fit</span> (when on) &nbsp; (x across; density of P, "
           "probability of D up)")

    def __init__(self, lane_id: int, color: str, parent=None):
        super().__init__(lane_id, color, parent)
        widget, plot = self._small_plot()
        plot.setAxisItems({"bottom": BandAxis("bottom", -np.inf, np.inf)})  # a data file's own units
        plot.getAxis("bottom").setStyle(tickFont=small_font(), tickLength=-3)
        cache_axes(plot)
        self._units = (None, "x")
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setXRange(*X_RANGE, padding=0)
        plot.setYRange(-0.02, 1.05, padding=0)
        self.p_data_curve = pg.PlotCurveItem([], [], pen=pg.mkPen(COLORS["p_data"], width=1.5), fillLevel=0,
                                             brush=pg.mkBrush(30, 30, 30, 40))
        self.p_g_curve = pg.PlotCurveItem([], [], pen=pg.mkPen(COLORS["p_g"], width=2))
        self.d_curve = pg.PlotCurveItem([], [], pen=pg.mkPen(COLORS["d"], width=2))
        self.d_star_curve = pg.PlotCurveItem([], [], connect="finite",
                                             pen=pg.mkPen(COLORS["d_star"], width=1.5, style=Qt.PenStyle.DashLine))
        self.mle_curve = pg.PlotCurveItem([], [], pen=pg.mkPen(MLE_COLOR, width=1.5, style=Qt.PenStyle.DashDotLine))
        for item in (self.p_data_curve, self.p_g_curve, self.d_curve, self.d_star_curve, self.mle_curve):
            plot.addItem(item)
        self.p_data_curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._p_data = None
        self._add_graphics(widget)

    def draw(self, pic) -> None:
        if not isinstance(pic, Picture1D):
            return
        x = pic.p_data.x
        if pic.units is not self._units[0]:
            self._units = (pic.units, pic.axis_name)
            self.axis_titles = (pic.axis_name, type(self).axis_titles[1])
            if self.plot.getAxis("bottom").label.isVisible():
                self.plot.setLabel("bottom", pic.axis_name, **{"font-size": "8pt"})
            mean, scale = (0.0, 1.0) if pic.units is None else (float(pic.units.mean[0]), float(pic.units.scale[0]))
            self.plot.getAxis("bottom").set_affine(mean, scale)
        if pic.p_data.y is not self._p_data:
            self._p_data = pic.p_data.y
            self.p_data_curve.setData(x, self._p_data)
        self.p_g_curve.setData(x, pic.p_g.y)
        self.d_curve.setData(x, d_on_axis(pic.d.y, pic.d_range))
        self.d_star_curve.setData(x, d_on_axis(pic.d_star.y, pic.d_range))

    def clear(self) -> None:
        super().clear()
        for item in (self.p_data_curve, self.p_g_curve, self.d_curve, self.d_star_curve):
            item.setData([], [])
        self._p_data = None

    def show_mle(self, layer) -> None:
        """The MLE fit over this lane's P_data (every lane shares P_data, so every lane shows it)."""
        if layer is None or layer.density is None:
            self.mle_curve.setData([], [])
        else:
            self.mle_curve.setData(layer.density.x, layer.density.y)
