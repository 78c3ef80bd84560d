"""Shared test set-up: offscreen Qt before any QApplication exists, one thread for torch, cleanup."""

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
