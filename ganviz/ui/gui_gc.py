"""Python's cycle collector runs on the GUI thread only, while a window (or anything else) holds it.

Python collects reference cycles on whichever thread happens to allocate when a generation fills
up. In a Qt process that is often the training thread (or a loader or the metric classifier), and
the cycles it finds include the Qt/pyqtgraph objects of closed windows and replaced plot items.
Destroying Qt objects there races the GUI thread: a training thread in `QObject::~QObject` holds a
Qt mutex and waits for the GIL while the GUI thread holds the GIL and waits for that mutex (seen
with gdb as a hang of the test suite, and as aborts during garbage collection).

pyqtgraph's `GarbageCollector` is the known cure: automatic collection off, and the same
generation thresholds checked from a QTimer on the GUI thread. `hold()` starts it when the first
holder comes and `release()` stops it when the last one goes, after collecting once more on the
calling (GUI) thread; a holder releases only when every thread it started has been joined.
"""

from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector

_collector: GarbageCollector | None = None
_holders = 0
_was_enabled = True


def hold() -> None:
    """Take a hold (on the GUI thread, before starting any thread): from now until the last hold is
    released, cycles are collected only by a timer of the GUI thread's event loop."""
    global _collector, _holders, _was_enabled
    if _holders == 0:
        _was_enabled = gc.isenabled()
        _collector = GarbageCollector(interval=1.0)  # disables automatic collection, starts its timer
    _holders += 1


def release() -> None:
    """Give a hold back (on the GUI thread, after joining every thread the holder started). The last
    release collects what is left here, on this thread, and gives collection back to Python."""
    global _collector, _holders
    if _holders == 0:
        return
    _holders -= 1
    if _holders == 0:
        _collector.timer.stop()
        _collector = None
        gc.collect()
        if _was_enabled:
            gc.enable()


def holders() -> int:
    return _holders
