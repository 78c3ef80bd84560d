"""The Dirac-GAN view (THEORY.md §9): the (θ, ψ) plane with the gradient vector field of the chosen loss
and regulariser, the live trajectory and the current point; θ, ψ and the distance to (0, 0) over time.

A click on the plane starts a new run from the clicked point. The regulariser, γ, σ, the update
order and the start point are the mode's own controls (TrainConfig.extra: shared by every lane, so
changing one starts every lane again); the loss, the learning rates and k are the window's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QWidget

from ganviz.core import dirac
from ganviz.core.dirac import PictureDirac
from ganviz.core.snapshot import Snapshot
from ganviz.ui.base import LaneView, ModeView, hint_label
from ganviz.ui.history_plot import HistoryPlot, Series, cache_axes

COLORS = {
    "field": "#9aa5b1",
    "trail": "#1f77b4",
    "point": "#d62728",
    "start": "#2ca02c",
    "target": "#222222",
    "theta": "#2ca02c",
    "psi": "#1f77b4",
    "dist": "#d62728",
    "d_loss": "#9467bd",
    "g_loss": "#8c564b",
}
HISTORY_SERIES = [
    Series("dist", "distance", COLORS["dist"], "pos"),  # short labels: the toggles set the panel's width
    Series("theta", "θ", COLORS["theta"], "pos"),
    Series("psi", "ψ", COLORS["psi"], "pos"),
    Series("d_loss", "D loss", COLORS["d_loss"], "loss"),
    Series("g_loss", "G loss", COLORS["g_loss"], "loss"),
]
HISTORY_GROUPS = {"pos": "θ, ψ, distance to (0, 0)", "loss": "loss"}


def arrow_segments(origins: np.ndarray, vectors: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Shafts and two-stroke heads of the arrows as x, y arrays of segment pairs (connect="pairs").
    Lengths are scaled so the longest arrow is 0.9 grid spacings; a square root of the speed keeps
    the slow arrows near the equilibrium visible."""
    speed = np.hypot(vectors[:, 0], vectors[:, 1])
    top = float(np.nanmax(speed)) if speed.size and np.isfinite(speed).any() else 0.0
    if top <= 0:
        return np.zeros(0), np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(speed[:, None] > 0, vectors / speed[:, None], 0.0)
    length = 0.9 * spacing * np.sqrt(np.clip(speed / top, 0, 1))
    tip = origins + unit * length[:, None]
    head = 0.35 * length[:, None]
    c, s = np.cos(np.radians(25)), np.sin(np.radians(25))
    back = -unit
    left = np.stack([back[:, 0] * c - back[:, 1] * s, back[:, 0] * s + back[:, 1] * c], axis=1) * head + tip
    right = np.stack([back[:, 0] * c + back[:, 1] * s, -back[:, 0] * s + back[:, 1] * c], axis=1) * head + tip
    pts = np.stack([origins, tip, tip, left, tip, right], axis=1).reshape(-1, 2)
    return pts[:, 0], pts[:, 1]


class PlaneItems:
    """The items of a (θ, ψ) plane, shared by the full view and the small multiples."""

    def __init__(self, plot: pg.PlotItem, small: bool = False):
        self.plot = plot
        plot.setAspectLocked(True)
        plot.showGrid(x=True, y=True, alpha=0.12)
        self.field = pg.PlotCurveItem([], [], connect="pairs", pen=pg.mkPen(COLORS["field"], width=1))
        self.trail = pg.PlotCurveItem([], [], pen=pg.mkPen(COLORS["trail"], width=1.5 if small else 2))
        self.start = pg.ScatterPlotItem(pxMode=True, size=7 if small else 10, symbol="s", pen=None,
                                        brush=pg.mkBrush(COLORS["start"]))
        self.target = pg.ScatterPlotItem([0.0], [0.0], pxMode=True, size=8 if small else 12, symbol="+",
                                         pen=pg.mkPen(COLORS["target"], width=2), brush=None)
        self.point = pg.ScatterPlotItem(pxMode=True, size=7 if small else 11, pen=pg.mkPen("w", width=1),
                                        brush=pg.mkBrush(COLORS["point"]))
        for item in (self.field, self.trail, self.target, self.start, self.point):
            plot.addItem(item)
        self.extent: float | None = None

    def draw(self, pic: PictureDirac) -> None:
        if pic.extent != self.extent:
            self.extent = pic.extent
            self.plot.setRange(xRange=(-pic.extent, pic.extent), yRange=(-pic.extent, pic.extent), padding=0.03)
        spacing = 2 * pic.extent / (dirac.GRID - 1)
        self.field.setData(*arrow_segments(pic.field.origins, pic.field.vectors, spacing))
        trail = pic.trail.points
        self.trail.setData(trail[:, 0], trail[:, 1]) if len(trail) else self.trail.setData([], [])
        self.start.setData([pic.start[0]], [pic.start[1]])
        self.point.setData([pic.point[0]], [pic.point[1]])

    def clear(self) -> None:
        for item in (self.field, self.trail):
            item.setData([], [])
        for item in (self.start, self.point):
            item.setData([], [])
        self.extent = None


class ViewDirac(ModeView):
    mode = "dirac"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("viewDirac")
        self.plot_widget = pg.PlotWidget()
        plot = self.plot = self.plot_widget.getPlotItem()
        plot.setLabel("bottom", "θ  (generator: P_G = δ_θ)")
        plot.setLabel("left", "ψ  (discriminator: D(x) = σ(ψx))")
        plot.setMenuEnabled(False)
        cache_axes(plot)
        self.items = PlaneItems(plot)
        self.title = pg.TextItem("", color="#333333", anchor=(0, 0))
        self.title.setParentItem(plot.vb)
        self.title.setPos(6, 4)
        self.legend = pg.TextItem("", anchor=(0, 1))
        self.legend.setHtml(
            f"<span style='color:{COLORS['trail']}'>— trajectory</span> &nbsp; "
            f"<span style='color:{COLORS['point']}'>● (θ, ψ) now</span> &nbsp; "
            f"<span style='color:{COLORS['start']}'>■ start</span> &nbsp; "
            f"<br><span style='color:{COLORS['target']}'>+ equilibrium</span> &nbsp; "
            f"<span style='color:#7d8791'>→ step direction (−gradient)</span><br>"
            "<span style='color:#666666'>click the plane: a new run from there</span>")
        self.legend.setParentItem(plot.vb)
        plot.vb.sigResized.connect(self._place_legend)
        self.plot_widget.scene().sigMouseClicked.connect(self._clicked)
        self.history = HistoryPlot(HISTORY_SERIES, HISTORY_GROUPS, smoothing=1, legend_above=True, toggle_columns=3)
        splitter = self._place_beside(self.plot_widget, self.history)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([650, 330])  # the plane is square: give it the width
        self._controls = self._build_controls()

    def _place_legend(self, *_):
        self.legend.setPos(6, self.plot.vb.height() - 4)

    # --- controls -----------------------------------------------------------------------------------
    def _build_controls(self) -> QWidget:
        box = QWidget()
        form = QFormLayout(box)
        form.setContentsMargins(0, 0, 0, 0)
        d = dirac.DEFAULTS
        self.reg_combo = QComboBox(objectName="diracRegCombo")
        for label, key in (("none", "none"), ("R1 (γ/2·E_data‖∇D‖²)", "r1"), ("R2 (γ/2·E_G‖∇D‖²)", "r2"),
                           ("instance noise σ", "noise")):
            self.reg_combo.addItem(label, key)
        self.update_combo = QComboBox(objectName="diracUpdateCombo")
        for key in dirac.UPDATES:
            self.update_combo.addItem(key, key)
        self.gamma_spin = self._spin("diracGammaSpin", 0.01, 100.0, d["gamma"], 0.1)
        self.noise_spin = self._spin("diracNoiseSpin", 0.01, 10.0, d["noise_std"], 0.1)
        self.theta_spin = self._spin("diracTheta0Spin", -dirac.START_LIMIT, dirac.START_LIMIT, d["theta0"], 0.1)
        self.psi_spin = self._spin("diracPsi0Spin", -dirac.START_LIMIT, dirac.START_LIMIT, d["psi0"], 0.1)
        for combo in (self.reg_combo, self.update_combo):
            combo.currentIndexChanged.connect(lambda _: self._restart())
        form.addRow("Regulariser", self.reg_combo)
        form.addRow("γ", self.gamma_spin)
        form.addRow("σ", self.noise_spin)
        form.addRow("Updates", self.update_combo)
        form.addRow("θ₀", self.theta_spin)
        form.addRow("ψ₀", self.psi_spin)
        form.addRow(hint_label("Loss, learning rates and k are above (vanilla = minimax; LSGAN and hinge do "
                               "not apply). Each change here starts a new run. Plain gradient steps (sgd)."))
        self._sync_enabled()
        return box

    def _spin(self, name: str, lo: float, hi: float, value: float, step: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox(objectName=name)
        spin.setRange(lo, hi)
        spin.setDecimals(2)
        spin.setSingleStep(step)
        spin.setValue(value)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(lambda _: self._restart())
        return spin

    def _sync_enabled(self) -> None:
        reg = self.reg_combo.currentData()
        self.gamma_spin.setEnabled(reg in ("r1", "r2"))
        self.noise_spin.setEnabled(reg == "noise")

    def _extra(self) -> dict[str, Any]:
        return dict(reg=self.reg_combo.currentData(), gamma=self.gamma_spin.value(),
                    noise_std=self.noise_spin.value(), update=self.update_combo.currentData(),
                    theta0=self.theta_spin.value(), psi0=self.psi_spin.value())

    def _restart(self) -> None:
        self._sync_enabled()
        self.restart_requested.emit({"extra": self._extra()})

    def _clicked(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.double():
            return
        vb = self.plot.vb
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        p = vb.mapSceneToView(ev.scenePos())
        lim = dirac.START_LIMIT
        theta, psi = float(np.clip(p.x(), -lim, lim)), float(np.clip(p.y(), -lim, lim))
        for spin, val in ((self.theta_spin, theta), (self.psi_spin, psi)):
            spin.blockSignals(True)
            spin.setValue(round(val, 2))
            spin.blockSignals(False)
        self.message.emit(f"new run from (θ, ψ) = ({self.theta_spin.value():.2f}, {self.psi_spin.value():.2f})")
        self._restart()

    def extra_controls(self) -> QWidget:
        return self._controls

    def config_changes(self) -> dict[str, Any]:
        return {"extra": self._extra()}

    def sync_to_config(self, cfg) -> None:
        s = dirac.settings(cfg.extra)
        widgets = (self.reg_combo, self.update_combo, self.gamma_spin, self.noise_spin, self.theta_spin, self.psi_spin)
        for w in widgets:
            w.blockSignals(True)
        self.reg_combo.setCurrentIndex(self.reg_combo.findData(s["reg"]))
        self.update_combo.setCurrentIndex(self.update_combo.findData(s["update"]))
        self.gamma_spin.setValue(s["gamma"])
        self.noise_spin.setValue(s["noise_std"])
        self.theta_spin.setValue(s["theta0"])
        self.psi_spin.setValue(s["psi0"])
        for w in widgets:
            w.blockSignals(False)
        self._sync_enabled()

    # --- drawing ------------------------------------------------------------------------------------
    def show_snapshot(self, snap: Snapshot) -> None:
        pic = snap.views
        if isinstance(pic, PictureDirac):
            self.items.draw(pic)
            m = snap.metrics
            self.title.setText(f"{pic.title}\nθ = {m.get('theta', np.nan):+.3f}   ψ = {m.get('psi', np.nan):+.3f}\n"
                               f"distance to (0, 0) = {m.get('dist', np.nan):.3f}")
        self.history.update_history(snap.history)

    def clear(self) -> None:
        self.items.clear()
        self.title.setText("")
        self.history.clear()


class LaneDirac(LaneView):
    """One lane of the Dirac-GAN as a small multiple: the plane, its field, trajectory and point."""

    full_view = ViewDirac
    axis_titles = ("θ", "ψ")
    key = (f"<span style='color:{COLORS['trail']}'>— trajectory</span> &nbsp; "
           f"<span style='color:{COLORS['point']}'>● (θ, ψ)</span> &nbsp; "
           f"<span style='color:{COLORS['start']}'>■ start</span> &nbsp; + (0, 0) &nbsp; "
           "<span style='color:#7d8791'>→ −gradient field</span>")

    def __init__(self, lane_id: int, color: str, parent=None):
        super().__init__(lane_id, color, parent)
        widget, plot = self._small_plot()
        self.items = PlaneItems(plot, small=True)
        self._add_graphics(widget)

    def link(self, first: LaneView) -> None:
        """Each lane frames its own trajectory (a spiral out needs a larger plane than one spiralling in)."""

    def draw(self, pic) -> None:
        if isinstance(pic, PictureDirac):
            self.items.draw(pic)

    def clear(self) -> None:
        super().clear()
        self.items.clear()
