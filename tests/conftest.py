"""Shared test set-up: offscreen Qt before any QApplication exists, one thread for torch, cleanup."""

import faulthandler
import os
import tempfile

os.environ["QT_QPA_PLATFORM"] = "offscreen"
# QSettings (ganviz.ui.remember) of the launched app go to a throwaway folder, never the user's.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="ganviz-test-config-")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)  # the toy models are faster on one thread, and tests run beside each other's Qt


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """The suite's own ganviz cache dir: nothing is read from or written to the user's cache
    (tests that need an empty cache set GANVIZ_CACHE_DIR themselves)."""
    os.environ["GANVIZ_CACHE_DIR"] = str(tmp_path_factory.mktemp("ganviz-cache"))


@pytest.fixture(autouse=True)
def _gui_thread_gc(request):
    """From the first Qt test on, the suite collects cycles the way the app does: on the GUI thread
    only (ganviz.ui.gui_gc). Closed windows and views of earlier tests leave Qt objects in cycles;
    collected on a later test's training or loader thread they deadlock or abort the process."""
    global _SUITE_HOLDS_GC
    if not _SUITE_HOLDS_GC and ("qtbot" in request.fixturenames or "qapp" in request.fixturenames):
        from ganviz.ui import gui_gc

        gui_gc.hold()  # kept for the rest of the session, as the app keeps it while a window is open
        _SUITE_HOLDS_GC = True
    yield


_SUITE_HOLDS_GC = False


def _timeout_of(item) -> float:
    """The limit pytest-timeout applies to `item`: its own `timeout` mark, else the ini's."""
    mark = item.get_closest_marker("timeout")
    if mark is not None and (mark.args or "timeout" in mark.kwargs):
        return float(mark.args[0] if mark.args else mark.kwargs["timeout"])
    return float(item.config.getini("timeout") or 120)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A test stuck inside C code (where pytest-timeout's signal cannot reach Python) ends the run
    with every thread's stack on stderr instead of hanging it."""
    faulthandler.dump_traceback_later(_timeout_of(item) + 60, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def window(qtbot):
    """A MainWindow in 1-D mode, closed (thread joined) after the test."""
    from ganviz.ui import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.speed_combo.setCurrentIndex(0)  # "max": the toy modes start slower, for a person to follow
    w.show()
    yield w
    w.close()
    assert w.worker.wait(5000)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    """A device-agnostic core test runs on the CPU and, where there is one, on CUDA."""
    return request.param


def pytest_configure(config):
    config.addinivalue_line("markers", "cpu_only: the test means the CPU (figures, thread counts, CPU generators)")
