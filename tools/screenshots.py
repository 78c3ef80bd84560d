"""Make the README's screenshots with the app's own window, offscreen: `python tools/screenshots.py`.

Each shot opens MainWindow in a mode, trains for a while on the worker thread, pauses, and saves
`widget.grab()` to assets/screenshots/NAME.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def train_until(window, iterations: int, timeout_s: float = 120) -> None:
    window.play_button.setChecked(True)
    start = time.time()
    while window.worker.trainer.iteration < iterations and time.time() - start < timeout_s:
        wait(100)
    window.play_button.setChecked(False)
    wait(600)
    window.view.history.flush()
    wait(200)


def shot(window, name: str, out: Path) -> None:
    path = out / f"{name}.png"
    window.grab().save(str(path))
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "assets" / "screenshots"))
    parser.add_argument("--only", nargs="*", help="names of shots to make (default: all)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    app.setApplicationName("ganviz")  # keeps the application referenced while the windows live
    from ganviz.core.device import leave_core_for_ui
    from ganviz.ui import MainWindow

    leave_core_for_ui()
    shots = {
        "1d_training": ("1d", "bimodal", lambda w: train_until(w, 3000)),
        "1d_fit_d_star": ("1d", "trimodal", lambda w: (train_until(w, 400), fit(w))),
        "2d_ring8": ("2d", "ring8", lambda w: (set_seed(w, 2), train_until(w, 4000))),
        "mnist": ("mnist", None, lambda w: train_until(w, 1500, timeout_s=240)),
    }
    for name, (mode, dataset, action) in shots.items():
        if args.only and name not in args.only:
            continue
        window = MainWindow(mode=mode, dataset=dataset)
        window.resize(1400, 880)
        window.show()
        wait(500)
        action(window)
        shot(window, name, out)
        window.close()
    return 0


def set_seed(window, seed: int) -> None:
    """As a user does it: type the seed and leave the box (a new run starts)."""
    window.seed_spin.setValue(seed)
    window.seed_spin.editingFinished.emit()
    wait(300)


def fit(window) -> None:
    window.fit_button.click()
    start = time.time()
    wait(300)
    while window.worker.state == "fitting" and time.time() - start < 120:
        wait(100)
    wait(600)
    window.view.history.flush()
    wait(200)


if __name__ == "__main__":
    sys.exit(main())
