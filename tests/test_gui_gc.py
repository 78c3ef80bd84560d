"""ganviz.ui.gui_gc: automatic collection off while held, a GUI-thread timer collecting instead, given back on the last release."""

import gc
import weakref

import pytest

from ganviz.ui import gui_gc


class _Cycle:
    def __init__(self):
        self.me = self


@pytest.fixture
def alone(monkeypatch):
    """gui_gc as in a process where nothing holds it yet (the suite itself holds it from its first Qt test)."""
    enabled = gc.isenabled()
    monkeypatch.setattr(gui_gc, "_holders", 0)
    monkeypatch.setattr(gui_gc, "_collector", None)
    gc.enable()
    yield
    gc.enable() if enabled else gc.disable()


def test_held_collection_happens_on_the_gui_threads_timer_and_the_last_release_gives_it_back(qtbot, alone):
    gui_gc.hold()
    gui_gc.hold()
    assert not gc.isenabled() and gui_gc.holders() == 2
    cycle = _Cycle()
    dead = weakref.ref(cycle)
    del cycle
    # garbage past the youngest generation's threshold is collected by the timer while Qt's loop runs
    filler = [_Cycle() for _ in range(gc.get_threshold()[0] + 10)]
    del filler
    qtbot.waitUntil(lambda: dead() is None, timeout=5000)
    gui_gc.release()
    assert not gc.isenabled() and gui_gc.holders() == 1
    late = _Cycle()
    dead = weakref.ref(late)
    del late
    gui_gc.release()  # the last one collects at once, here, and gives collection back
    assert dead() is None
    assert gc.isenabled() and gui_gc.holders() == 0
    gui_gc.release()  # a release too many changes nothing
    assert gc.isenabled() and gui_gc.holders() == 0


def test_a_process_that_had_collection_off_keeps_it_off(qtbot, alone):
    gc.disable()
    gui_gc.hold()
    gui_gc.release()
    assert not gc.isenabled()
