"""The training thread: owns the Trainer, runs Algorithm 1 between mailbox reads, publishes Snapshots.

The window never calls the trainer. It posts commands to a queue (read between training chunks,
because queued slots on a thread whose run() loops would never fire) and pulls the latest
snapshot with `take_snapshot()` from a timer, so the UI draws at most at the snapshot rate.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from typing import Any

from PySide6.QtCore import QThread

from ganviz.core.metrics_log import MetricsLog
from ganviz.core.snapshot import Snapshot
from ganviz.core.trainer import FitDStar, NonFiniteError, Trainer

SNAPSHOT_HZ = 20.0  # smooth motion; each frame costs the training thread GIL time (see ganviz bench)
PUBLISH_SHARE = 0.08  # publishing (evaluation + snapshot) may take at most this share of the worker's time
CHUNK_SECONDS = 0.004  # train in chunks this long, so a command waits at most about this long
HISTORY_ROWS = 20000


class TrainWorker(QThread):
    def __init__(self, trainer: Trainer, parent=None):
        super().__init__(parent)
        self._mailbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = False
        self._lock = threading.Lock()
        self._latest: Snapshot | None = None
        self._fresh = False
        self.snapshot_hz = SNAPSHOT_HZ
        self._install(trainer)

    # --- called from the UI thread ----------------------------------------------------------------
    def post(self, command: str, payload: Any = None) -> None:
        """Commands: play, pause, step (n), reset, replace (Trainer), update (dict of live settings),
        fit_d, max_rate (iterations/s or None)."""
        self._mailbox.put((command, payload))
        self._wake.set()

    def take_snapshot(self) -> Snapshot | None:
        """The newest snapshot if there is one the caller has not seen yet."""
        with self._lock:
            if not self._fresh:
                return None
            self._fresh = False
            return self._latest

    def stop(self) -> None:
        self._stop = True
        self._wake.set()

    # --- the thread ---------------------------------------------------------------------------
    def _install(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.state = "paused"
        self.message = trainer.device_notice or ""
        self.fit: FitDStar | None = None
        self.max_rate: float | None = getattr(self, "max_rate", None)
        self.log = MetricsLog(("step", "d_loss", "g_loss", *trainer.task.metric_names), max_rows=HISTORY_ROWS)
        self._rate_origin = (time.perf_counter(), trainer.iteration)
        self._speed = (time.perf_counter(), trainer.iteration, 0.0)
        self._seconds_per_iteration = 1e-3
        self._need_publish = True
        self._measured = None  # an evaluation made by Fit D* that the next snapshot publishes
        self._publish_interval = 1.0 / self.snapshot_hz

    def run(self) -> None:
        last_publish = 0.0
        while not self._stop:
            self._read_mailbox()
            if self._stop:
                break
            busy = self.state in ("running", "fitting")
            if busy:
                try:
                    self._train_chunk()
                except Exception as exc:  # e.g. CUDA out of memory: pause and say so, never end the thread
                    self._diverged(f"training stopped: {type(exc).__name__}: {exc}")
            now = time.perf_counter()
            # Fit D* asks for its own publishes (after each measurement); training runs at snapshot_hz.
            if self._need_publish or (self.state == "running" and now - last_publish >= self._publish_interval):
                self._publish()
                last_publish = now
                # A mode whose evaluation is expensive (2-D grids, MNIST) publishes less often,
                # so that measuring never costs training more than PUBLISH_SHARE of its time.
                cost = time.perf_counter() - now
                self._publish_interval = max(1.0 / self.snapshot_hz, cost / PUBLISH_SHARE)
            if not busy:
                self._wake.wait(0.1)
                self._wake.clear()

    def _read_mailbox(self) -> None:
        while True:
            try:
                command, payload = self._mailbox.get_nowait()
            except queue.Empty:
                return
            try:
                self._handle(command, payload)
            except Exception as exc:  # a bad command must never kill the thread
                self.message = f"{command} failed: {exc}"
                self._need_publish = True

    def _handle(self, command: str, payload: Any) -> None:
        trainer = self.trainer
        if command == "play":
            if self.state != "diverged":
                self._end_fit()
                self.state = "running"
                self._rate_origin = (time.perf_counter(), trainer.iteration)
        elif command == "pause":
            if self.state in ("running", "fitting"):
                self._end_fit()
                self.state = "paused"
                self._need_publish = True
        elif command == "step":
            if self.state == "diverged":
                return
            self._end_fit()
            self.state = "paused"
            trainer.step(1 if payload is None else int(payload))
            self._need_publish = True
        elif command == "reset":
            trainer.reset()
            self._install(trainer)
            self.message = "reset: new weights from the same seed"
        elif command == "replace":
            self._install(payload)
        elif command == "update":
            trainer.update(**payload)
            self._need_publish = self.state == "paused"
        elif command == "fit_d":
            if self.state != "diverged":
                self.fit = FitDStar(trainer)
                self.state = "fitting"
                self.message = "Fit D*: G frozen, training only D until V(G, D) stops rising…"
        elif command == "max_rate":
            self.max_rate = payload
            self._rate_origin = (time.perf_counter(), trainer.iteration)
        else:
            raise ValueError(f"unknown command {command!r}")

    def _train_chunk(self) -> None:
        trainer = self.trainer
        if self.state == "fitting":
            assert self.fit is not None
            try:
                done = self.fit.advance(views=True)
            except NonFiniteError as exc:
                self._diverged(str(exc))
                return
            self._measured = self.fit.last  # publish the fit's own measurement: it consumed the losses
            self._need_publish = True
            if done:
                m = self.fit.last.metrics if self.fit.last else {}
                self.fit = None  # advance() already gave the user's settings back
                self.state = "paused"
                self.message = fit_message(m)
            return
        n = max(1, min(2000, int(CHUNK_SECONDS / self._seconds_per_iteration)))
        if self.max_rate is not None:
            t0, it0 = self._rate_origin
            due = int(self.max_rate * (time.perf_counter() - t0)) - (trainer.iteration - it0)
            if due <= 0:
                self._wake.wait(min(0.05, 1.0 / self.max_rate))
                self._wake.clear()
                return
            n = min(n, due)
        start = time.perf_counter()
        trainer.step(n)
        elapsed = time.perf_counter() - start
        self._seconds_per_iteration = 0.8 * self._seconds_per_iteration + 0.2 * (elapsed / n)

    def _end_fit(self) -> None:
        """Stop a running Fit D* early, giving G and D's learning rate back to the user."""
        if self.fit is not None:
            self.fit.finish()
            self.fit = None

    def _diverged(self, text: str) -> None:
        self.state = "diverged"
        self._end_fit()
        self.message = text
        self._need_publish = True

    def _publish(self) -> None:
        trainer = self.trainer
        self._need_publish = False
        views: dict = {}
        if self.state != "diverged":
            try:
                ev, self._measured = self._measured or trainer.evaluate(views=True), None
                self.log.append({"step": trainer.iteration, **ev.metrics})
                views = ev.views
            except NonFiniteError as exc:
                self._diverged(str(exc))
        now = time.perf_counter()
        t0, it0, rate = self._speed
        if now - t0 >= 0.5:
            rate = (trainer.iteration - it0) / (now - t0) if self.state in ("running", "fitting") else 0.0
            self._speed = (now, trainer.iteration, rate)
        snap = Snapshot(
            mode=trainer.cfg.mode,
            iteration=trainer.iteration,
            steps_per_s=rate,
            device=trainer.device_name,
            state=self.state,
            metrics=self.log.last(),
            history=self.log.copy(),
            views=views,
            message=self.message,
            target=trainer.task.describe(),
            run=id(trainer),
        )
        with self._lock:
            self._latest = snap
            self._fresh = True


def fit_message(metrics: dict[str, float]) -> str:
    jsd, bound = metrics.get("jsd", math.nan), metrics.get("jsd_d", math.nan)
    if math.isfinite(jsd) and math.isfinite(bound):
        gap = abs(jsd - bound) / jsd * 100 if jsd > 0 else 0.0
        return (f"Fit D* done: V(G,D) stopped rising; bound (V+log 4)/2 = {bound:.4f} vs JSD = {jsd:.4f} nats "
                f"(gap {gap:.1f}%)")
    return f"Fit D* done: V(G,D) = {metrics.get('v', math.nan):.4f} stopped rising"
