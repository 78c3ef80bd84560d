"""Offscreen rendering for the CLI: the window's view of a snapshot, or a grey image, saved as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ganviz.core.snapshot import Snapshot


def ensure_app():
    """A QApplication for offscreen drawing; creates one (offscreen unless told otherwise) if needed."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication([])
    return app


def render_snapshot(snap: Snapshot, path: str | Path, size: tuple[int, int] = (1100, 760)) -> None:
    """Draw `snap` with the same view the window uses for its mode and save it as PNG."""
    app = ensure_app()
    from PySide6.QtCore import QEvent

    from ganviz.ui.main_window import view_class

    view = view_class(snap.mode)()
    view.resize(*size)
    view.show_snapshot(snap)
    flush = getattr(getattr(view, "history", None), "flush", None)
    if flush is not None:
        flush()
    app.processEvents()
    ok = view.grab().save(str(path))
    # Delete the view now, while the QApplication exists: leaving it to interpreter shutdown
    # crashes (pyqtgraph items outliving their scene).
    view.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    if not ok:
        raise OSError(f"could not write {path}")


def save_gray_png(image: np.ndarray, path: str | Path) -> None:
    """Save a 2-D uint8 array (0 = black) as an 8-bit greyscale PNG (written without Qt)."""
    from ganviz.runfiles import write_gray_png

    write_gray_png(image, path)


def render_lane(frame, lane_id: int, path: str | Path, size: tuple[int, int] = (1100, 760)) -> None:
    """Draw one lane of a Session's Frame as the window draws a single lane, and save it as PNG."""
    lane = frame.lane(lane_id)
    if lane is None:
        raise KeyError(f"no lane {lane_id}")
    snap = Snapshot(mode=frame.mode, iteration=lane.iteration, device=frame.device, state=frame.state,
                    metrics=lane.metrics, history=lane.history, views=lane.picture,
                    message=lane.message, target=frame.target)
    render_snapshot(snap, path, size)
