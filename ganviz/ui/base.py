"""What every mode's views in the window are: the full view of one lane (ModeView), and a small one
per lane when several train side by side (LaneView)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QFrame, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from ganviz.core.config import MODE_DEFAULTS, NOISES
from ganviz.core.oserror import ReadCancelled
from ganviz.core.points import read_point_set, spread_problem
from ganviz.core.snapshot import Snapshot

LOAD_JOIN_TIMEOUT = 5.0  # seconds closing the window waits for a load or download thread (they stop within a chunk)
PROGRESS_EVERY = 0.05    # seconds between two progress updates sent to the UI thread


class _LoadNews(QObject):
    """Carries a load thread's news to the UI thread (queued across threads by Qt), each tagged with
    the number of the load it belongs to."""

    progress = Signal(object, object, object)  # load number, done, total
    finished = Signal(object, str, object)     # load number, the path, what `read` returned
    failed = Signal(object, str, str, bool)    # load number, the path, why not, whether it was cancelled


class FileLoad(QObject):
    """One file or folder read at a time on a thread of its own: owned, cancellable and joined.

    `start(path, read)` runs `read(path, progress, cancel)` on the thread; the UI thread then gets
    `progress(done, total)` at most every PROGRESS_EVERY s (and the last one), and `finished(path,
    result)` or `failed(path, reason, cancelled)`, after which the thread is joined. An exception of
    `expected` gives its own words as the reason, any other its type's name too (never an exception
    in Qt's loop); one of `cancelled` is a cancelled read. Starting another load or `cancel()` stops
    the running one and drops whatever it still sends."""

    progress = Signal(object, object)
    finished = Signal(str, object)
    failed = Signal(str, str, bool)

    def __init__(self, name: str, expected: tuple[type[BaseException], ...],
                 cancelled: tuple[type[BaseException], ...] = (ReadCancelled,), parent: QObject | None = None):
        super().__init__(parent)
        self.name, self.expected, self.cancelled = name, expected, cancelled
        self.reader: threading.Thread | None = None  # not `thread`: that is QObject.thread()
        self._cancel = threading.Event()
        self._number = 0  # news of an older load (cancelled or overtaken) is not passed on
        self._news = _LoadNews(self)
        self._news.progress.connect(self._on_progress)
        self._news.finished.connect(self._on_finished)
        self._news.failed.connect(self._on_failed)

    @property
    def running(self) -> bool:
        return self.reader is not None and self.reader.is_alive()

    def start(self, path: str, read: Callable[[str, Callable[[int, int], None], threading.Event], Any]) -> None:
        self.cancel()
        cancel = self._cancel = threading.Event()
        self._number += 1
        news, number, last = self._news, self._number, [0.0]

        def progress(done: int, total: int) -> None:  # at most every PROGRESS_EVERY s, and the last one
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY or done >= total:
                last[0] = now
                news.progress.emit(number, done, total)

        def run() -> None:
            try:
                result = read(path, progress, cancel)
            except self.cancelled:
                news.failed.emit(number, path, "cancelled", True)
            except self.expected as exc:
                news.failed.emit(number, path, str(exc), False)
            except Exception as exc:  # anything else is still a message, never an exception in Qt's loop
                news.failed.emit(number, path, f"{type(exc).__name__}: {exc}", False)
            else:
                news.finished.emit(number, path, result)

        self.reader = threading.Thread(target=run, name=self.name, daemon=True)
        self.reader.start()

    def cancel(self, timeout: float = LOAD_JOIN_TIMEOUT) -> bool:
        """Stop the running load and wait for its thread (a read stops between two chunks or files);
        True when no load thread is left."""
        self._cancel.set()
        if self.reader is not None:
            self._number += 1  # what the stopped load still sends is dropped
            self.reader.join(timeout)
            if self.reader.is_alive():
                return False
            self.reader = None
        return True

    def _join(self) -> None:
        """The thread sent its last news and is ending: join it."""
        if self.reader is not None:
            self.reader.join(LOAD_JOIN_TIMEOUT)
            self.reader = None

    def _on_progress(self, number: int, done: int, total: int) -> None:
        if number == self._number:
            self.progress.emit(done, total)

    def _on_finished(self, number: int, path: str, result: Any) -> None:
        if number == self._number:
            self._join()
            self.finished.emit(path, result)

    def _on_failed(self, number: int, path: str, reason: str, cancelled: bool) -> None:
        if number == self._number:
            self._join()
            self.failed.emit(path, reason, cancelled)


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

    # --- a user's data file as P_data (1-D values, 2-D points) ---------------------------------------
    # Read on a thread of its own (a 10⁶-row CSV takes seconds to parse), with progress and Cancel; the
    # task built from the file next finds it already read (core.points keeps the last file read).
    _points_load: FileLoad | None = None
    point_progress: QProgressBar | None = None
    cancel_point_button: QPushButton | None = None

    def _point_load_row(self) -> QWidget:
        """The progress bar and Cancel button of a file being read (hidden until then), for the
        view's settings under its Load button."""
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.point_progress = QProgressBar(objectName="pointLoadProgress")
        self.cancel_point_button = QPushButton("Cancel", objectName="cancelPointLoadButton")
        self.cancel_point_button.setToolTip("stop reading the file; the current target stays")
        self.cancel_point_button.clicked.connect(lambda: self.cancel_point_load())
        layout.addWidget(self.point_progress, 1)
        layout.addWidget(self.cancel_point_button)
        row.setVisible(False)
        self._point_row = row
        return row

    def _choose_point_file(self, title: str, kinds: str, columns: int, what: tuple[str, str]) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, "", f"{kinds} (*.csv *.npy);;All files (*)")
        if path:
            self._load_point_file(path, columns, what)

    def _load_point_file(self, path: str, columns: int, what: tuple[str, str]) -> None:
        """Read and check `path` (`columns` numeric columns) on a background thread, then ask for a run
        on it; on a bad file say why and keep the current target. `what`: the file's noun and its
        rows' plural, e.g. ("points", "points"). A load already running is cancelled first."""
        self.cancel_point_load()
        if self._points_load is None:
            self._points_load = FileLoad("ganviz-point-load", expected=(ValueError,), parent=self)
            self._points_load.progress.connect(self._on_point_progress)
            self._points_load.finished.connect(self._on_point_finished)
            self._points_load.failed.connect(self._on_point_failed)
        self._point_what = what

        def read(path: str, progress, cancel) -> str:
            data = read_point_set(path, columns=columns, progress=progress, cancel=cancel)
            problem = spread_problem(Path(path).name, data.points, data.names)
            if problem is not None:
                raise ValueError(problem)
            return f"Loaded {len(data.points)} {what[1]} from {path}"

        if self.point_progress is not None:
            self.point_progress.setRange(0, 0)  # busy until the first progress
            self.point_progress.setFormat(f"reading {Path(path).name}… %p%")
            self._point_row.setVisible(True)
        self.message.emit(f"Reading {path}…")
        self._points_load.start(path, read)

    @property
    def loading_points(self) -> bool:
        return self._points_load is not None and self._points_load.running

    def cancel_point_load(self, timeout: float = LOAD_JOIN_TIMEOUT) -> bool:
        """Stop a file being read and wait for its thread (it stops within PROGRESS_LINES lines);
        True when no load thread is left."""
        if self._points_load is not None:
            if self._points_load.running:
                self.message.emit("Loading cancelled; the current target stays")
            if not self._points_load.cancel(timeout):
                return False
        self._end_point_load()
        return True

    def shutdown(self, timeout: float = LOAD_JOIN_TIMEOUT) -> bool:
        """The window is closing: cancel a file being read and join its thread."""
        return self.cancel_point_load(timeout)

    def _end_point_load(self) -> None:
        if self.point_progress is not None:
            self._point_row.setVisible(False)

    def _on_point_progress(self, done: int, total: int) -> None:
        if total and self.point_progress is not None:
            self.point_progress.setRange(0, 1000)
            self.point_progress.setValue(int(1000 * done / total))

    def _on_point_finished(self, path: str, text: str) -> None:
        self._end_point_load()
        self.message.emit(text)
        self.restart_requested.emit({"dataset": path})

    def _on_point_failed(self, path: str, reason: str, cancelled: bool) -> None:
        self._end_point_load()
        noun = self._point_what[0]
        self.message.emit(f"Loading {noun} cancelled; the current target stays" if cancelled
                          else f"Could not load {noun}: {reason}")

    def _place_beside(self, main: QWidget, side: QWidget) -> QSplitter:
        """Lay the view out as `main` (3/5 of the width) beside `side` (the curves), user-resizable."""
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(main)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 400])
        self._splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        return splitter

    def resizeEvent(self, event) -> None:
        """When the window changes size, the main picture gets 62% of the width again (a drag of the
        splitter holds until then)."""
        super().resizeEvent(event)
        splitter = getattr(self, "_splitter", None)
        if splitter is not None and event.size().width() != event.oldSize().width():
            total = sum(splitter.sizes())
            if total > 0:
                splitter.setSizes([round(total * 0.62), total - round(total * 0.62)])

    def clear(self) -> None:
        """Forget what was drawn (a new run starts)."""

    def extra_controls(self) -> QWidget | None:
        """Mode-specific controls for the side panel, or None."""
        return None

    def config_changes(self) -> dict[str, Any]:
        """TrainConfig field values this view's own controls currently hold (used when the run is rebuilt)."""
        return {}


def hint_label(text: str) -> QLabel:
    """A wrapped grey line of help under a mode's settings."""
    hint = QLabel(text)
    hint.setWordWrap(True)
    hint.setStyleSheet("color: #666666;")
    return hint


class NoiseControls:
    """The noise dimension and the choice of P_z, as two rows of a form; both restart the run
    (through the view's `restart_requested`), because G's input layer depends on them."""

    def __init__(self, view: ModeView, form: QFormLayout, dim_tip: str):
        defaults = MODE_DEFAULTS[view.mode]
        self.dim_spin = QSpinBox(objectName="noiseDimSpin")
        self.dim_spin.setRange(1, 64)
        self.dim_spin.setValue(int(defaults["noise_dim"]))
        self.dim_spin.setKeyboardTracking(False)  # one restart per edit, not per keystroke
        self.dim_spin.setToolTip(dim_tip + " (restarts the run)")
        self.dim_spin.valueChanged.connect(lambda n: view.restart_requested.emit({"noise_dim": n}))
        form.addRow("Noise dim", self.dim_spin)

        self.combo = QComboBox(objectName="noiseCombo")
        for name in NOISES:
            self.combo.addItem(name, name)
        self.combo.setCurrentIndex(self.combo.findData(defaults.get("noise", "gaussian")))
        self.combo.setToolTip("P_z: standard normal or uniform on [-1, 1] (restarts the run)")
        self.combo.currentIndexChanged.connect(
            lambda _: view.restart_requested.emit({"noise": self.combo.currentData()}))
        form.addRow("Noise", self.combo)

    def values(self) -> dict[str, Any]:
        return {"noise_dim": self.dim_spin.value(), "noise": self.combo.currentData()}

    def sync(self, cfg) -> None:
        """Show cfg's noise settings without asking for a restart."""
        for w in (self.dim_spin, self.combo):
            w.blockSignals(True)
        self.dim_spin.setValue(min(cfg.noise_dim, self.dim_spin.maximum()))
        self.combo.setCurrentIndex(self.combo.findData(cfg.noise))
        for w in (self.dim_spin, self.combo):
            w.blockSignals(False)


class LaneView(QFrame):
    """One lane as a small multiple: a header naming what distinguishes it, and its picture.

    Subclasses (one per mode, named in the mode registry) build `self.graphics` (a pyqtgraph
    widget) with `self.plot` (the PlotItem or ViewBox whose axes are linked across lanes), create
    their items once and draw a picture in `draw(picture)`; `show_lane` calls it only when the
    lane's picture is a new measurement. A click anywhere on the lane emits `clicked(lane_id)`.
    `full_view` is the mode's full single-lane view (ModeView subclass).
    """

    clicked = Signal(int)
    full_view: type = ModeView
    key = ""  # one line of rich text naming what the small views draw, shown once above the grid
    axis_titles = ("", "")  # (bottom, left): shown on the grid's outer lanes only (bottom row, left column)
    # how far a locked-aspect picture may be stretched (one axis's px per unit over the other's) to fill a
    # cell that is not of its shape; 1: never
    plane_stretch = 1.0

    def __init__(self, lane_id: int, color: str, parent=None):
        super().__init__(parent)
        self.setObjectName("laneView")
        self.lane_id = lane_id
        self.color = color
        self._picture = None
        self._header = ("", "", False)
        self.header = QLabel(objectName="laneHeader")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setMinimumWidth(10)
        self.header.setWordWrap(True)  # many lanes make narrow views: wrap the label rather than cut it
        layout = QVBoxLayout(self)
        layout.setContentsMargins(3, 3, 3, 3)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        self.set_selected(False)

    def _small_plot(self):
        """A PlotWidget for a small multiple: no buttons, menu or mouse zoom (a click selects the
        lane), small cached tick labels. Returns (widget, plot item); the plot is also self.plot."""
        import pyqtgraph as pg

        from ganviz.ui.history_plot import cache_axes

        widget = pg.PlotWidget()
        plot = self.plot = widget.getPlotItem()
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        for name in ("left", "bottom"):
            plot.getAxis(name).setStyle(tickFont=small_font(), tickLength=-3)
        cache_axes(plot)
        return widget, plot

    def show_axis_titles(self, bottom: bool, left: bool) -> None:
        """Title the bottom and/or left axis (the lane grid asks for them on its outer lanes, as
        small multiples with linked axes are usually drawn); a PlotItem only."""
        plot = getattr(self, "plot", None)
        if not hasattr(plot, "setLabel"):
            return
        for side, on, text in (("bottom", bottom, self.axis_titles[0]), ("left", left, self.axis_titles[1])):
            if on and text:
                plot.setLabel(side, text, **{"font-size": "8pt"})
            else:
                plot.getAxis(side).showLabel(False)

    def _add_graphics(self, widget) -> None:
        self.graphics = widget
        widget.setMinimumSize(60, 60)
        widget.scene().sigMouseClicked.connect(lambda _ev: self.clicked.emit(self.lane_id))
        self.layout().addWidget(widget, 1)

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self.lane_id)
        super().mousePressEvent(event)

    def set_selected(self, selected: bool) -> None:
        border = "2px solid #1f77b4" if selected else "1px solid #cccccc"
        self.setStyleSheet(f"QFrame#laneView {{ border: {border}; background: white; }}")

    def plane_aspect(self) -> float | None:
        """Height / width at which the picture is drawn with its aspect locked; None when it fills its
        cell whatever the cell's shape (the lane grid then keeps its square-ish columns × rows)."""
        return None

    def link(self, first: "LaneView") -> None:
        """Share the first lane's axes (pan or zoom one, all follow)."""
        self.plot.setXLink(first.plot)
        self.plot.setYLink(first.plot)

    def show_lane(self, lane, title: str) -> None:
        diverged = lane.state == "diverged"
        header = (title, lane.message if diverged else "", diverged)
        if header != self._header:
            self._header = header
            swatch = f"<span style='color:{self.color}'>■</span>"
            text = f"{swatch} <b>{_escape(title)}</b>"
            if diverged:
                text += " <span style='color:#d62728'>⚠ diverged</span>"
            self.header.setToolTip(title + (f"\n{lane.message}" if diverged else "") + "\n(click to edit this lane)")
            self.header.setText(text)
            self.header.setStyleSheet("background: #fde2e1;" if diverged else "")
        if lane.picture is not None and lane.picture is not self._picture:
            self._picture = lane.picture
            self.draw(lane.picture)

    def draw(self, picture) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        self._picture = None


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def small_font():
    """The tick font of the small multiples."""
    from PySide6.QtGui import QFont

    font = QFont()
    font.setPointSize(7)
    return font
