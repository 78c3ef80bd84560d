"""What every mode's view in the window is: a widget that draws Snapshots."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from ganviz.core.snapshot import Snapshot


class ModeView(QWidget):
    """The central view of one mode.

    The window calls `show_snapshot` with each new snapshot (≤ 30 Hz) and `clear` after a reset.
    Mode-specific settings that need a new run (a loaded file, noise dimension…) are asked for by
    emitting `restart_requested` with TrainConfig field changes, e.g. {"noise_dim": 2}; the window
    validates them, rebuilds the run and says so in the status bar. A ValueError raised while the
    window builds the task (e.g. a bad file) is shown to the user and the previous run stays.
    """

    mode = ""
    restart_requested = Signal(dict)
    message = Signal(str)  # a line for the status bar

    def show_snapshot(self, snap: Snapshot) -> None:
        raise NotImplementedError

    def _place_beside(self, main: QWidget, side: QWidget) -> QSplitter:
        """Lay the view out as `main` (3/5 of the width) beside `side` (the curves), user-resizable."""
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(main)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 400])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        return splitter

    def clear(self) -> None:
        """Forget what was drawn (a new run starts)."""

    def extra_controls(self) -> QWidget | None:
        """Mode-specific controls for the side panel, or None."""
        return None

    def config_changes(self) -> dict[str, Any]:
        """TrainConfig field values this view's own controls currently hold (used when the run is rebuilt)."""
        return {}
