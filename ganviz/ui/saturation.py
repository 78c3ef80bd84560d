"""The Saturation dock (THEORY.md §4): both generator losses against D(G(z)), the newest batch on each, and
the norm of ∂loss/∂θ_G of each over training, from the selected lane's Frame (computed in the core)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ganviz.core.frame import Saturation

MINIMAX_COLOR, NONSAT_COLOR = "#d62728", "#1f77b4"
D_GRID = np.linspace(1e-3, 1 - 1e-3, 400)
Y_RANGE = (-4.0, 7.0)  # −log D reaches 6.9 at D = 0.001; log(1 − D) −6.9 at 0.999 (clipped: flat there anyway)
TIP_CURVES = ("G's loss as a function of D(G(z)), the probability D gives a generated sample of being real. "
              "minimax descends log(1 − D(G(z))): flat near D(G(z)) = 0, where D confidently rejects the fakes — early "
              "in training — so its gradient vanishes there (it saturates). non-saturating descends −log D(G(z)) "
              "instead: the same fixed point, but steep where D(G(z)) ≈ 0. The dots are the newest batch's D(G(z)) "
              "on each curve (with 'G against the exact D*': D*(G(z)))")
TIP_NORMS = ("‖∂loss/∂θ_G‖, the size of the gradient G receives, under both losses on the same batch, measured "
             "each time the lane is drawn (the loss G does not train with is computed only here). While D rejects "
             "the fakes, the minimax curve lies far below the non-saturating one: minimax is slow at the beginning")
EMPTY = ("Saturation applies to the paper's D (a probability): pick the minimax or non-saturating loss in a toy "
         "mode (1-D or 2-D)")


class SaturationPanel(QWidget):
    """Left: log(1 − D) ("minimax") and −log D ("non-saturating") over D ∈ (0, 1) with the batch's D(G(z)) as
    dots; right: the gradient norms of both over training (log scale)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.note = QLabel(EMPTY, objectName="saturationNote")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        row = QHBoxLayout()
        layout.addLayout(row, 1)

        self.curves = pg.PlotWidget(objectName="saturationCurves")
        self.curves.setBackground("w")
        item = self.curves.getPlotItem()
        item.setLabel("bottom", "D(G(z))")
        item.setLabel("left", "G's loss")
        item.setXRange(0, 1, padding=0.01)
        item.setYRange(*Y_RANGE, padding=0)
        item.setMouseEnabled(False, False)
        item.showGrid(x=True, y=True, alpha=0.2)
        # the key in one row at the top right, where −log D is already low: two rows covered the batch's dots
        legend = item.addLegend(offset=(-8, 4), labelTextColor="k", brush=pg.mkBrush(255, 255, 255, 230), colCount=2,
                                verSpacing=-4)
        self.minimax_curve = item.plot(D_GRID, np.log1p(-D_GRID), pen=pg.mkPen(MINIMAX_COLOR, width=2),
                                       name="minimax  log(1 − D)")
        self.nonsat_curve = item.plot(D_GRID, -np.log(D_GRID), pen=pg.mkPen(NONSAT_COLOR, width=2),
                                      name="non-saturating  −log D")
        self.minimax_dots = pg.ScatterPlotItem(size=6, pen=pg.mkPen("#7f0000"), brush=pg.mkBrush(MINIMAX_COLOR))
        self.nonsat_dots = pg.ScatterPlotItem(size=6, pen=pg.mkPen("#08306b"), brush=pg.mkBrush(NONSAT_COLOR))
        item.addItem(self.minimax_dots)
        item.addItem(self.nonsat_dots)
        legend.setParentItem(item.vb)
        self.curves.setToolTip(TIP_CURVES)
        row.addWidget(self.curves, 1)

        self.norms = pg.PlotWidget(objectName="saturationNorms", axisItems={"left": SparseLogAxis("left")})
        self.norms.setBackground("w")
        item = self.norms.getPlotItem()
        item.setLabel("bottom", "iteration")
        item.setLabel("left", "‖∂loss/∂θ_G‖")
        item.setLogMode(False, True)
        item.showGrid(x=True, y=True, alpha=0.2)
        item.getAxis("bottom").enableAutoSIPrefix(False)
        item.getAxis("left").enableAutoSIPrefix(False)  # "(x0.001)" beside 10² reads as a norm of 100
        # no legend and no title over the curves: the colours are the left plot's (red minimax, blue
        # non-saturating) and the note above names both in them; a title row would take the strip's height
        self.minimax_norm = item.plot([], [], pen=pg.mkPen(MINIMAX_COLOR, width=2))
        self.nonsat_norm = item.plot([], [], pen=pg.mkPen(NONSAT_COLOR, width=2))
        self.norms.setToolTip(TIP_NORMS)
        row.addWidget(self.norms, 1)
        self._shown: Saturation | None = None
        self.show_saturation(None)

    def sizeHint(self) -> QSize:  # a strip under the views, not half the window
        return QSize(640, 200)

    def minimumSizeHint(self) -> QSize:
        return QSize(320, 140)

    def show_saturation(self, sat: Saturation | None) -> None:
        """Draw a lane's Saturation layer (None: the lane's loss or mode has none)."""
        if sat is self._shown and sat is not None:
            return
        self._shown = sat
        if sat is None:
            self.note.setText(EMPTY)
            for dots in (self.minimax_dots, self.nonsat_dots):
                dots.setData([], [])
            self.minimax_norm.setData([], [])
            self.nonsat_norm.setData([], [])
            return
        used = "minimax" if sat.loss == "minimax" else "non-saturating"
        d = np.clip(sat.d_fake, 1e-6, 1 - 1e-6)
        against = "D*(G(z)), the exact D*" if sat.d_oracle else "D(G(z))"
        self.note.setText(f"G trains with the <b>{used}</b> loss. Newest batch: mean {against} = {d.mean():.3f}; "
                          f"‖∂loss/∂θ_G‖ over training (right) <span style='color:{MINIMAX_COLOR}'>minimax "
                          f"{_last(sat.grad_minimax)}</span>, <span style='color:{NONSAT_COLOR}'>non-saturating "
                          f"{_last(sat.grad_nonsaturating)}</span>")
        self.minimax_curve.setPen(pg.mkPen(MINIMAX_COLOR, width=3 if sat.loss == "minimax" else 1.5))
        self.nonsat_curve.setPen(pg.mkPen(NONSAT_COLOR, width=3 if sat.loss != "minimax" else 1.5))
        self.minimax_dots.setData(d, np.clip(np.log1p(-d), *Y_RANGE))
        self.nonsat_dots.setData(d, np.clip(-np.log(d), *Y_RANGE))
        # log axis: a zero norm (G's mass where D* is 0 flat) cannot be drawn; it shows as a gap
        for curve, y in ((self.minimax_norm, sat.grad_minimax), (self.nonsat_norm, sat.grad_nonsaturating)):
            y = np.where(y > 0, y, np.nan)
            curve.setData(sat.steps, y, connect="finite")


class SparseLogAxis(pg.AxisItem):
    """A log axis that labels only 1, 2 and 5 times a power of ten: in a strip 100 px high the labels of
    every minor tick (0.06, 0.07, 0.08, 0.09) are drawn over each other."""

    def tickStrings(self, values, scale, spacing):
        strings = super().tickStrings(values, scale, spacing)
        if not self.logMode:
            return strings
        return [text if f"{10 ** v:.0e}"[0] in "125" else "" for v, text in zip(values, strings)]


def _last(values: np.ndarray) -> str:
    return f"{values[-1]:.3g}" if len(values) else "—"


class SaturationDock(QDockWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__("Saturation: minimax vs non-saturating", parent, objectName="saturationDock")
        self.panel = SaturationPanel()
        self.setWidget(self.panel)
        self.setAllowedAreas(Qt.DockWidgetArea.BottomDockWidgetArea | Qt.DockWidgetArea.RightDockWidgetArea)


def dock_height(dock: SaturationDock, window_height: int) -> int:
    """The height the dock opens with in a window this tall."""
    panel = dock.panel
    return max(panel.minimumSizeHint().height(), min(panel.sizeHint().height(), window_height // 4))


def install_saturation_dock(window) -> SaturationDock:
    """The Saturation dock at the bottom (hidden until View › Saturation panel), fed from the window's Frames."""
    dock = SaturationDock(window)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    dock.hide()
    # shown: as tall as its size hint but at most a quarter of the window, so the lane views (the main
    # picture and its history plots) keep most of the height of a small window too. After the event loop
    # turns: while the dock is being shown the layout has not placed it yet, and would undo the size.
    dock.visibilityChanged.connect(lambda shown: shown and QTimer.singleShot(0, dock, lambda: window.resizeDocks(
        [dock], [dock_height(dock, window.height())], Qt.Orientation.Vertical)))
    toggle = dock.toggleViewAction()
    toggle.setText("Saturation panel (minimax vs non-saturating)")
    toggle.setShortcut("Ctrl+T")
    window.view_menu.addAction(toggle)
    window.saturation_dock = dock
    return dock
