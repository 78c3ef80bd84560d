"""The MLE layer's controls (a check box and K) and its table: the MLE fit against the GAN in three divergences (THEORY §6)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QHeaderView, QLabel, QSizePolicy, QSpinBox,
                               QTableWidget, QTableWidgetItem, QWidget)

from ganviz.core.frame import Frame, LaneFrame
from ganviz.core.mle import COMPONENTS_MAX, COMPONENTS_MIN

MLE_COLOR = "#c51b8a"  # magenta: no other layer of the density plot or the plane uses it
GAN_COLOR = "#2ca02c"  # P_G's green in both views
LAYER_TIP = ("MLE fit: a Gaussian mixture with K components fitted by EM to 10,000 samples of P_data, i.e. "
             "argmin KL(P_data‖P_G) (THEORY §6). KL(P_data‖·) punishes missing mass where P_data has it, so "
             "maximum likelihood covers every mode, and puts mass between them when K is too small; a GAN "
             "minimises the JSD, which may drop a mode instead. Fitted once per target and K, in the "
             "background, never during training")
K_TIP = ("K: the number of Gaussians in the MLE fit (1–10). With fewer than P_data has modes, the fit covers "
         "them all and fills the gaps between them (one Gaussian on bimodal: mean 0, variance 4.25)")
COLUMNS = (
    ("kl", "KL(P_data‖·)", "KL(P_data‖Q) in nats: large where Q misses mass P_data has. Maximum likelihood "
                           "minimises exactly this, so the MLE fit covers every mode (mode-covering)"),
    ("kl_rev", "KL(·‖P_data)", "KL(Q‖P_data) in nats: large where Q puts mass P_data does not have (between "
                               "the modes). A Q that drops a mode pays only log(1/its share) here "
                               "(mode-seeking)"),
    ("jsd", "JSD", "Jensen–Shannon divergence in nats (0 … log 2 ≈ 0.693): what a GAN with an optimal D "
                   "minimises. It punishes both missing and extra mass, but boundedly: a GAN may drop a mode"),
)
MLE_ROW_TIP = ("the maximum-likelihood Gaussian mixture with K components (EM): argmin KL(P_data‖Q) over "
               "K-component mixtures, measured on the same grid as the GAN")
GAN_ROW_TIP = "P_G of the selected lane at its latest measurement (updates live)"
TABLE_TIP = ("Mode-covering vs mode-seeking (THEORY §6): the MLE fit has the lower KL(P_data‖·) (it covers "
             "every mode); a GAN that dropped a mode has the lower KL(·‖P_data). Same estimator for both rows; "
             "— where it does not measure a divergence")


class MLEControls(QWidget):
    """The check box "MLE fit" and the spin box K, as one row of a mode's settings. `changed(K)` asks
    for the layer with K components, 0 for none."""

    changed = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.check = QCheckBox("MLE fit", objectName="mleCheck")
        self.check.setToolTip(LAYER_TIP)
        self.spin = QSpinBox(objectName="mleComponents")
        self.spin.setRange(COMPONENTS_MIN, COMPONENTS_MAX)
        self.spin.setValue(1)
        self.spin.setPrefix("K = ")
        self.spin.setToolTip(K_TIP)
        self.spin.setKeyboardTracking(False)  # typing "10" must not fit K = 1 first
        self.status = QLabel("", objectName="mleStatus")
        self.status.setStyleSheet("color: #666666;")
        row.addWidget(self.check)
        row.addWidget(self.spin)
        row.addWidget(self.status, 1)
        self._syncing = False
        self.check.toggled.connect(lambda _: self._emit())
        self.spin.valueChanged.connect(lambda _: self._emit() if self.check.isChecked() else None)

    def components(self) -> int:
        return self.spin.value() if self.check.isChecked() else 0

    def _emit(self) -> None:
        if not self._syncing:
            self.changed.emit(self.components())

    def sync(self, components: int, state: str) -> None:
        """Show the session's setting without asking for it again (the check box's own `toggled`
        still reaches the view, whose layer follows it)."""
        self._syncing = True
        try:
            if components:
                self.spin.setValue(components)
            self.check.setChecked(bool(components))
        finally:
            self._syncing = False
        self.show_state(state)

    def show_state(self, state: str) -> None:
        """'fitting…' while EM runs; the reason if the fit failed (in full in the tooltip)."""
        text = {"off": "", "ready": "", "fitting": "fitting…"}.get(state, "fit failed")
        if self.status.text() != text:
            self.status.setText(text)
            self.status.setToolTip(state if text else "")


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


class MLETable(QWidget):
    """Rows "MLE fit (K)" and "GAN (iteration i)", columns KL(P_data‖·), KL(·‖P_data), JSD (nats).
    The GAN row is the selected lane's latest metrics; the MLE row is the fit's (computed once)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("mleTable")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>MLE vs GAN</b><br><span style='color:#666666'>nats</span>")
        title.setToolTip(TABLE_TIP)
        layout.addWidget(title)
        self.table = QTableWidget(2, len(COLUMNS), objectName="mleTableWidget")
        self.table.setToolTip(TABLE_TIP)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for j, (_key, label, tip) in enumerate(COLUMNS):
            item = QTableWidgetItem(label)
            item.setToolTip(tip)
            self.table.setHorizontalHeaderItem(j, item)
        for i, tip in enumerate((MLE_ROW_TIP, GAN_ROW_TIP)):
            item = QTableWidgetItem("")
            item.setToolTip(tip)
            self.table.setVerticalHeaderItem(i, item)
            for j in range(len(COLUMNS)):
                cell = QTableWidgetItem("—")
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                cell.setToolTip(COLUMNS[j][2])
                self.table.setItem(i, j, cell)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.horizontalHeader().setFixedHeight(self.table.fontMetrics().height() + 8)
        for i, color in enumerate((MLE_COLOR, GAN_COLOR)):
            self.table.verticalHeaderItem(i).setForeground(QColor(color))
        height = (self.table.horizontalHeader().height() + 2 * rows.defaultSectionSize()
                  + 2 * self.table.frameWidth())
        self.table.setFixedHeight(height)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.table.setMaximumWidth(640)  # numbers near their row's name, not spread over the whole window
        layout.addWidget(self.table, 1)
        layout.addStretch(0)
        self._mle_key = None

    def row(self, i: int) -> list[str]:
        """The texts of row i (0: MLE fit, 1: GAN), for tests."""
        return [self.table.item(i, j).text() for j in range(len(COLUMNS))]

    def show_frame(self, frame: Frame, lane: LaneFrame) -> None:
        layer = frame.mle
        key = (id(layer), frame.mle_state, frame.mle_components)
        if key != self._mle_key:
            self._mle_key = key
            k = frame.mle_components
            self.table.verticalHeaderItem(0).setText(f"MLE fit (K = {k})")
            for j, (name, _label, _tip) in enumerate(COLUMNS):
                text = _fmt(layer.metrics.get(name)) if layer is not None else (
                    "fitting…" if frame.mle_state == "fitting" else "—")
                self.table.item(0, j).setText(text)
        self.table.verticalHeaderItem(1).setText(f"GAN (iteration {lane.iteration:,})")
        for j, (name, _label, _tip) in enumerate(COLUMNS):
            self.table.item(1, j).setText(_fmt(lane.metrics.get(name)))
