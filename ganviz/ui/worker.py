"""The training thread: a thin QThread adapter that drives one Session and publishes its Frames.

The window never touches the session. It hands the thread typed commands,
`worker.call(Session.set, lane_id, k=5)`, queued and applied between training chunks (queued
slots on a thread whose run() loops would never fire), and pulls the newest Frame with
`take_frame()` from a timer, so the UI draws at most at the frame rate. Each command gets a
number; the Frame says which was applied last (`Frame.applied`), so the window knows when the
controls may show the session's settings again without undoing a slider being dragged.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread

from ganviz.core.frame import Frame
from ganviz.core.session import Session

SNAPSHOT_HZ = 20.0  # smooth motion; each frame costs the training thread GIL time (see ganviz bench)
# Publishing (measuring + the frame, and the repaint it causes on the UI thread, which holds the GIL)
# may take at most this share of the worker's time while it trains at full speed: 8% let the window
# cost 1-D training 24% (ganviz bench: 0.76x headless); 5% gives ~9 frames/s and 0.87x. With a speed
# limit the worker idles between chunks, so frames come at SNAPSHOT_HZ as long as measuring takes
# under half of each frame's time.
PUBLISH_SHARE = 0.05
LIMITED_SHARE = 0.5


class TrainWorker(QThread):
    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session  # owned by this thread once it runs: read it from elsewhere only in tests
        self._queue: queue.SimpleQueue[tuple[int, Callable, tuple, dict]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = False
        self._lock = threading.Lock()
        self._seq = 0
        self._applied = 0
        self._latest: Frame | None = None
        self._fresh = False
        self._need_publish = True
        self.snapshot_hz = SNAPSHOT_HZ
        self._publish_interval = 1.0 / SNAPSHOT_HZ

    # --- called from the UI thread ----------------------------------------------------------------
    def call(self, command: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
        """Apply `command(session, *args, **kwargs)` between training chunks, e.g.
        `call(Session.set, 0, k=5)`. Returns the command's number (see Frame.applied)."""
        with self._lock:
            self._seq += 1
            seq = self._seq
        self._queue.put((seq, command, args, kwargs))
        self._wake.set()
        return seq

    def replace_session(self, session: Session) -> int:
        """Drive `session` from now on; the old one is closed by the thread."""
        return self.call(lambda old: self._swap(old, session))

    def take_frame(self) -> Frame | None:
        """The newest Frame if there is one the caller has not seen yet."""
        with self._lock:
            if not self._fresh:
                return None
            self._fresh = False
            return self._latest

    @property
    def latest(self) -> Frame | None:
        with self._lock:
            return self._latest

    def stop(self) -> None:
        self._stop = True
        self._wake.set()

    # --- the thread ---------------------------------------------------------------------------
    def run(self) -> None:
        last_publish = 0.0
        try:
            while not self._stop:
                self._apply_commands()
                if self._stop:
                    break
                session = self.session
                busy = session.state != "paused"
                done = 0
                if busy:
                    try:
                        done = session.advance()
                    except Exception as exc:  # the thread never dies: pause, keep the traceback, say so
                        session.state = "paused"
                        session.error(f"training stopped: {type(exc).__name__}: {exc}")
                        self._need_publish = True
                    if session.state == "paused":  # a fit ended, or an error paused it
                        self._need_publish = True
                    if done and session.slow_motion is not None:  # every phase is shown
                        self._need_publish = True
                now = time.perf_counter()
                # a background result (the MLE fit) is shown when it lands, also while paused
                if self._need_publish or session.mle_landed() or (busy and now - last_publish >= self._publish_interval):
                    self._publish(budget=PUBLISH_SHARE / self.snapshot_hz if busy else 1.0)
                    last_publish = now
                    # Lanes whose measurement is expensive (2-D grids, MNIST, many lanes) publish
                    # less often, so measuring never costs training more than PUBLISH_SHARE of its time.
                    cost = time.perf_counter() - now
                    share = PUBLISH_SHARE if session.max_rate is None else LIMITED_SHARE
                    self._publish_interval = max(1.0 / self.snapshot_hz, cost / share)
                if self.session.state == "paused":
                    self._wake.wait(0.1)
                    self._wake.clear()
                elif done == 0 and session.slow_motion is not None:  # waiting for the next phase
                    self._wake.wait(min(0.05, 1.0 / session.slow_motion))
                    self._wake.clear()
                elif done == 0 and session.max_rate is not None:  # held back by the speed limit
                    self._wake.wait(min(0.05, 1.0 / session.max_rate))
                    self._wake.clear()
        finally:
            self.session.close()

    def _apply_commands(self) -> None:
        while True:
            try:
                seq, command, args, kwargs = self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                command(self.session, *args, **kwargs)
            except Exception as exc:  # a bad command must never kill the thread
                name = getattr(command, "__name__", "command").strip("_")
                self.session.error(f"{name} failed: {exc}")
            self._applied = seq
            self._need_publish = True

    def _swap(self, old: Session, new: Session) -> None:
        self.session = new
        old.close()

    def _publish(self, budget: float) -> None:
        self._need_publish = False
        try:
            frame = self.session.publish(budget)
        except Exception as exc:
            self.session.state = "paused"
            self.session.error(f"measuring failed: {type(exc).__name__}: {exc}")
            frame = self.session.frame()
        frame = dataclasses.replace(frame, applied=self._applied)
        with self._lock:
            self._latest = frame
            self._fresh = True
