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


def iteration(window) -> int:
    """The iteration every lane has reached, from the newest Frame the window drew."""
    frame = window.frame
    return min((lane.iteration for lane in frame.lanes), default=0) if frame is not None else 0


def train_until(window, iterations: int, timeout_s: float = 120) -> None:
    window.speed_combo.setCurrentIndex(window.speed_combo.findData(None))  # max: the window opens slower
    window.play_button.setChecked(True)
    start = time.time()
    while iteration(window) < iterations and time.time() - start < timeout_s:
        wait(100)
    window.play_button.setChecked(False)
    wait(600)
    flush(window)


def flush(window) -> None:
    history = getattr(window.view, "history", None)
    if history is not None:
        history.flush()
    wait(400)


def lanes(window, *changes: dict) -> None:
    """As a user does it: Add lane, then change the new lane's settings (the window's own controls)."""
    from ganviz.core.session import Session

    for change in changes:
        window.add_lane_button.click()
        wait(300)
        window._post(Session.set, window.selected, **change)
        wait(300)


def shot(window, name: str, out: Path) -> None:
    path = out / f"{name}.png"
    window.grab().save(str(path))
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "assets" / "screenshots"))
    parser.add_argument("--only", nargs="*", help="names of shots to make (default: all)")
    parser.add_argument("--size", nargs=2, type=int, default=(1400, 880), metavar=("W", "H"),
                        help="window size (default 1400 880; check 1280 820 and 1024 700 too)")
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
        "1d_mle": ("1d", "bimodal", lambda w: (mle_layer(w, 1), train_until(w, 3000))),
        "1d_fit_d_star": ("1d", "trimodal", lambda w: (train_until(w, 400), fit(w))),
        "2d_ring8": ("2d", "ring8", lambda w: (set_seed(w, 2), train_until(w, 4000))),
        "mnist": ("mnist", None, lambda w: train_until(w, 3000, timeout_s=480)),
        "lanes_1d": ("1d", "bimodal", lambda w: (lanes(w, {"k": 5}, {"loss": "minimax"}, {"lr_d": 1e-3, "lr_g": 1e-3}),
                                                 train_until(w, 1500))),
        # lane 1 has the mode's default seed (2): eight more lanes, each with another seed
        "lanes_2d": ("2d", "ring8", lambda w: (lanes(w, *({"seed": s} for s in (1, 3, 4, 5, 6, 7, 8, 9))),
                                               train_until(w, 3000))),
        # D trained to D* against G's first P_G (far from the data): the minimax loss has saturated
        "saturation": ("1d", "gaussian", lambda w: (pick(w.loss_combo, "minimax"), w.saturation_dock.show(),
                                                    fit(w), train_until(w, 300))),
        "dirac": ("dirac", None, lambda w: train_until(w, 600)),
        "dirac_r1": ("dirac", None, lambda w: (pick(w.view.reg_combo, "r1"), train_until(w, 150))),
        "lanes_dirac": ("dirac", None, lambda w: (lanes(w, {"loss": "nonsaturating"}, {"loss": "wgan"},
                                                        {"lr_d": 0.05, "lr_g": 0.05}), train_until(w, 600))),
    }
    for name, (mode, dataset, action) in shots.items():
        if args.only and name not in args.only:
            continue
        window = MainWindow(mode=mode, dataset=dataset)
        window.resize(*args.size)
        window.show()
        wait(500)
        action(window)
        shot(window, name, out)
        window.close()
    return 0


def pick(combo, data) -> None:
    """As a user does it: choose an item of a combo box (a new run starts)."""
    combo.setCurrentIndex(combo.findData(data))
    wait(400)


def set_seed(window, seed: int) -> None:
    """As a user does it: type the seed and leave the box (a new run starts)."""
    window.seed_spin.setValue(seed)
    window.seed_spin.editingFinished.emit()
    wait(300)


def mle_layer(window, components: int) -> None:
    """As a user does it: K in the mode settings, then the "MLE fit" box; wait for the fit."""
    controls = window.view.mle_controls
    controls.spin.setValue(components)
    controls.check.setChecked(True)
    start = time.time()
    while (window.frame is None or window.frame.mle is None) and time.time() - start < 60:
        wait(100)


def fit(window) -> None:
    window.fit_button.click()
    start = time.time()
    wait(300)
    while (window.frame is None or window.frame.state == "fitting") and time.time() - start < 120:
        wait(100)
    wait(600)
    flush(window)


if __name__ == "__main__":
    sys.exit(main())
