"""Thumbnails of each target P_data of the current mode (as TensorFlow Playground's datasets):
clicking one picks it in the window's own target list, so the window does what it always does."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QWidget

SIZE = 30


def thumbnail(mode: str, name: str, size: int = SIZE) -> QPixmap | None:
    """A small picture of target `name` of `mode`: the density (1-D) or samples (2-D); None if unknown."""
    pix = QPixmap(size, size)
    pix.fill(QColor("white"))
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    try:
        if mode == "1d":
            from ganviz.core.toy1d import TARGETS_1D, Mixture1D

            if name not in TARGETS_1D:
                return None
            x = np.linspace(-6, 6, 120)
            y = Mixture1D(TARGETS_1D[name]).pdf(x)
            y = y / max(float(np.max(y)), 1e-9)
            path = QPainterPath(QPointF(0, size - 2))
            for xi, yi in zip(np.linspace(0, size, len(x)), y):
                path.lineTo(QPointF(float(xi), float(size - 2 - yi * (size - 6))))
            path.lineTo(QPointF(size, size - 2))
            painter.setPen(QColor("black"))
            painter.setBrush(QColor(200, 200, 200))
            painter.drawPath(path)
        elif mode == "2d":
            from ganviz.core.toy2d import TARGETS_2D

            if name not in TARGETS_2D:
                return None
            target = TARGETS_2D[name](1.0)
            rng = np.random.default_rng(0)
            pts = target.centres[rng.integers(0, len(target.centres), 300)] + rng.normal(0, target.sigma, (300, 2))
            x0, x1, y0, y1 = target.region
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(40, 40, 40))
            for px, py in pts:
                painter.drawEllipse(QPointF((px - x0) / (x1 - x0) * size, (1 - (py - y0) / (y1 - y0)) * size), 1.0, 1.0)
        else:
            return None
    finally:
        painter.end()
    return pix


class TargetPicker(QWidget):
    """A row of thumbnail buttons, one per built-in target of the window's mode."""

    def __init__(self, window):
        super().__init__(objectName="targetPicker")
        self.window_ = window
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(2)
        self.mode = ""
        self.buttons: dict[str, QToolButton] = {}

    def show_mode(self, mode: str) -> None:
        if mode == self.mode:
            return
        self.mode = mode
        for button in self.buttons.values():
            button.deleteLater()
        self.buttons = {}
        from ganviz.core import modes

        datasets = getattr(modes.load(modes.spec(mode).task), "datasets", ())
        for name in datasets:
            pix = thumbnail(mode, name)
            if pix is None:
                continue
            button = QToolButton(objectName=f"target_{name}")
            button.setIcon(QIcon(pix))
            button.setIconSize(QSize(SIZE, SIZE))
            button.setToolTip(f"P_data = {name}: start every lane again on this target")
            button.clicked.connect(lambda _=False, n=name: self.pick(n))
            self.row.addWidget(button)
            self.buttons[name] = button
        self.setVisible(bool(self.buttons))

    def pick(self, name: str) -> None:
        combo = self.window_.dataset_combo
        i = combo.findData(name)
        if i >= 0:
            combo.setCurrentIndex(i)
