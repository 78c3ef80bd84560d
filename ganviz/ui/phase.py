"""Slow motion through Algorithm 1 in the window: the phase indicator, the model overview (as GAN
Lab's: z → G → x → D → loss, real data → D, the part the current phase updates highlighted), the
faint ghost of the picture before the phase, and Fit D*'s spans on the history plots."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QCheckBox, QComboBox, QGroupBox, QHBoxLayout, QLabel, QToolTip, QVBoxLayout, QWidget

PACES = [("1 phase/s", 1.0), ("2 phases/s", 2.0), ("4 phases/s", 4.0), ("10 phases/s", 10.0), ("0.5 phase/s", 0.5)]
D_COLOR, G_COLOR = QColor("#1f77b4"), QColor("#2ca02c")

# (key, label, tooltip in the theory's words, column, row, which phase updates it)
BOXES = (
    ("z", "z ~ P_z", "noise z drawn from the prior P_z (Gaussian or uniform): the generator's only input", 0, 0, ""),
    ("G", "G", "the generator G(z; θ_g), a multilayer perceptron: it maps noise to samples, so P_G is the "
                "distribution of G(z). A G update descends its loss with D held fixed", 1, 0, "g"),
    ("x", "x = G(z)", "generated (fake) samples: what P_G looks like", 2, 0, ""),
    ("real", "x ~ P_data", "real samples from the data distribution P_data", 2, 1, ""),
    ("D", "D", "the discriminator D(x; θ_d): the probability that x came from P_data rather than P_G. "
                "A D update ascends V(G,D) = E[log D(x)] + E[log(1 − D(G(z)))] with G held fixed; "
                "its optimum is D*(x) = p_data(x)/(p_data(x) + p_G(x))", 3, 0, "d"),
    ("loss", "V(G,D)", "the value V(G,D): D ascends it, G descends it (or −log D(G(z)), non-saturating). "
                       "At D = D*, V = −log 4 + 2·JSD(P_data‖P_G)", 4, 0, ""),
)
EDGES = (("z", "G"), ("G", "x"), ("x", "D"), ("real", "D"), ("D", "loss"))


def _column_widths(font: QFont) -> list[float]:
    """The width each of the overview's five columns needs for its labels in `font`."""
    metrics = QFontMetricsF(font)
    need = [0.0] * 5
    for key, label, _tip, col, _row, _ in BOXES:
        if key != "real":  # it spans two columns
            need[col] = max(need[col], metrics.horizontalAdvance(label) + 14)
    return need


class ModelOverview(QWidget):
    """A small drawing of the model; the box the current phase updates is highlighted and each box
    is explained on hover."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("modelOverview")
        self.setMinimumSize(220, 64)
        self.setMaximumHeight(80)
        self.setMouseTracking(True)
        self.phase = ""  # d | g | ""
        self.setToolTip("the model: z → G → x → D → V(G,D), and real data → D (hover a box)")

    def set_phase(self, phase: str) -> None:
        if phase != self.phase:
            self.phase = phase
            self.update()

    def rects(self) -> dict[str, QRectF]:
        """Each box's place: columns as wide as their labels need, scaled to the width; the real data
        box spans the G and x columns (its label is the longest)."""
        need = _column_widths(self._font())
        scale = self.width() / sum(need)
        left = [sum(need[:c]) * scale for c in range(6)]
        rh = self.height() / 2
        rects = {}
        for key, _label, _tip, col, row, _ in BOXES:
            first, last = (1, 2) if key == "real" else (col, col)
            rects[key] = QRectF(left[first] + 3, row * rh + 4, left[last + 1] - left[first] - 6, rh - 8)
        return rects

    def _font(self) -> QFont:
        """The widget's font a point smaller, and smaller still (down to 6 pt) until every label fits."""
        font = QFont(self.font())
        size = max(7.0, font.pointSizeF() - 1)
        font.setPointSizeF(size)
        while sum(_column_widths(font)) > self.width() and size > 6.0:
            size -= 0.5
            font.setPointSizeF(size)
        return font

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = self._font()
        p.setFont(font)
        rects = self.rects()
        p.setPen(QPen(QColor("#888888"), 1.2))
        for a, b in EDGES:
            ra, rb = rects[a], rects[b]
            start = ra.center() if a != "real" else ra.topRight()
            start.setX(ra.right())
            end = rb.center()
            end.setX(rb.left())
            if a == "real":
                start.setY(ra.center().y())
            path = QPainterPath(start)
            path.lineTo(end)
            p.drawPath(path)
            p.drawLine(end, end + QPointF(-5, -3))
            p.drawLine(end, end + QPointF(-5, 3))
        for key, label, _tip, _c, _r, updated_by in BOXES:
            r = rects[key]
            active = bool(self.phase) and updated_by == self.phase
            color = D_COLOR if updated_by == "d" else G_COLOR if updated_by == "g" else QColor("#999999")
            fill = QColor(color)
            fill.setAlpha(200 if active else 35)
            p.setBrush(fill)
            p.setPen(QPen(color.darker(130) if active else color, 2.5 if active else 1))
            p.drawRoundedRect(r, 4, 4)
            p.setPen(QColor("white") if active else QColor("#222222"))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, label)
        p.end()

    def box_at(self, pos) -> str:
        for key, rect in self.rects().items():
            if rect.contains(pos):
                return key
        return ""

    def event(self, event) -> bool:
        if event.type() == event.Type.ToolTip:
            key = self.box_at(event.position() if hasattr(event, "position") else event.pos())
            tip = next((b[2] for b in BOXES if b[0] == key), self.toolTip())
            QToolTip.showText(event.globalPos(), tip, self)
            return True
        return super().event(event)


class PhasePanel(QGroupBox):
    """Slow motion: the toggle, its pace, the phase indicator and the model overview.
    `slow_motion_changed` carries phases per second, or None when it is off."""

    slow_motion_changed = Signal(object)

    def __init__(self, parent=None):
        super().__init__("Algorithm 1, phase by phase", parent)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.check = QCheckBox("Slow motion", objectName="slowMotionCheck")
        self.check.setToolTip("while playing, show each iteration as its phases: D update 1 … k "
                              "(G fixed), then the G update (D fixed); a faint ghost shows the picture "
                              "before the phase")
        self.pace = QComboBox(objectName="slowPaceCombo")
        for label, rate in PACES:
            self.pace.addItem(label, rate)
        self.pace.setToolTip("how many phases of Algorithm 1 slow motion shows per second")
        row.addWidget(self.check)
        row.addWidget(self.pace, 1)
        layout.addLayout(row)
        self.label = QLabel("", objectName="phaseLabel")
        self.label.setWordWrap(True)
        self.label.setMinimumHeight(34)
        self.label.setToolTip("the phase of Algorithm 1 just done, and the objective it ascended or descended")
        layout.addWidget(self.label)
        self.overview = ModelOverview()
        layout.addWidget(self.overview)
        self.check.toggled.connect(lambda _: self._changed())
        self.pace.currentIndexChanged.connect(lambda _: self._changed() if self.check.isChecked() else None)

    def rate(self) -> float | None:
        return self.pace.currentData() if self.check.isChecked() else None

    def _changed(self) -> None:
        self.slow_motion_changed.emit(self.rate())

    def show_phase(self, text: str, kind: str, state: str) -> None:
        if not text:
            text = ("Fit D*: G frozen, only D updates (ascending V(G,D) towards D*)" if state == "fitting" else
                    "each iteration: k D updates (ascend V), then one G update; Step D / Step G do one")
            kind = "d" if state == "fitting" else ""
        color = "#1f77b4" if kind == "d" else "#2ca02c" if kind == "g" else "#555555"
        html = f"<span style='color:{color}'>{_escape(text)}</span>"
        if self.label.text() != html:
            self.label.setText(html)
        self.overview.set_phase(kind)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- ghosts: the picture before the phase, drawn faintly ------------------------------------------
GHOST_PEN = pg.mkPen(120, 120, 120, 150, width=1.5, style=Qt.PenStyle.DashLine)


def show_ghost(view, ghost) -> None:
    """Draw `ghost` (the picture before the last phase) faintly on `view` (a 1-D or 2-D ModeView),
    or remove it when None."""
    items = getattr(view, "_ghost_items", None)
    if items is None:
        plot = getattr(view, "plot", None)
        if plot is None or getattr(view, "mode", "") not in ("1d", "2d"):
            return
        if view.mode == "1d":
            items = {"d": pg.PlotCurveItem(pen=pg.mkPen(31, 119, 180, 110, width=2, style=Qt.PenStyle.DashLine)),
                     "p_g": pg.PlotCurveItem(pen=pg.mkPen(44, 160, 44, 110, width=2, style=Qt.PenStyle.DashLine))}
        else:
            items = {"fake": pg.ScatterPlotItem(pxMode=True, size=4, pen=None, brush=pg.mkBrush(44, 160, 44, 70)),
                     "half": pg.PlotDataItem([], [], pen=GHOST_PEN, connect="pairs")}
        for item in items.values():
            item.setZValue(-1 if view.mode == "2d" else 5)
            plot.addItem(item)
        view._ghost_items = items
    if ghost is None:
        for item in items.values():
            item.setVisible(False)
        return
    if view.mode == "1d" and hasattr(ghost, "p_g"):
        from ganviz.ui.view1d import d_on_axis

        x = ghost.p_g.x
        items["p_g"].setData(x, ghost.p_g.y)
        items["d"].setData(x, d_on_axis(ghost.d.y, ghost.d_range))
    elif view.mode == "2d" and hasattr(ghost, "fake"):
        from ganviz.ui.view2d import half_contour

        items["fake"].setData(pos=ghost.fake.points)
        items["half"].setData(*half_contour(ghost.d.values, ghost.d.extent, level=sum(ghost.d_range) / 2))
    else:
        return
    for item in items.values():
        item.setVisible(True)


# --- Fit D* spans on the history plots -----------------------------------------------------------
FIT_BRUSH_COLOR = (255, 165, 0, 70)


def show_fit_spans(history, spans: tuple[tuple[int, int], ...]) -> None:
    """A shaded band on every plot of `history` (a HistoryPlot) at each Fit D*'s training iteration,
    labelled with its own count of D-only updates (they are not training iterations)."""
    key = tuple(spans)
    if getattr(history, "_fit_spans_key", None) == key:
        return
    history._fit_spans_key = key
    for item, plot in getattr(history, "_fit_span_items", []):
        plot.removeItem(item)
    history._fit_span_items = []
    for i, (iteration, d_updates) in enumerate(spans):
        for j, plot in enumerate(history.plots.values()):
            line = pg.InfiniteLine(pos=iteration, angle=90, movable=False,
                                   pen=pg.mkPen(*FIT_BRUSH_COLOR, width=10))
            if j == 0:
                line.label = pg.InfLineLabel(line, text=f"Fit D*: {d_updates:,} D updates", position=0.85,
                                             color="#b36b00", fill=pg.mkBrush(255, 255, 255, 200))
            line.setToolTip(f"Fit D* at iteration {iteration:,}: {d_updates:,} D-only updates with G frozen "
                            "(not training iterations, so the iteration axis does not count them)")
            line.setZValue(-5)
            plot.addItem(line)
            history._fit_span_items.append((line, plot))
