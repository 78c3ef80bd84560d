"""Settings remembered between launches of `ganviz` (QSettings): the window's geometry, its docks
(the Lessons panel open or not), the last mode and every lane's settings (k, learning rates, loss,
target, seed, ...), which the next launch opens with unless --mode or --dataset is given. What is
remembered is what the lanes held when the window closed, so "Restore defaults" and a lesson (which
set the lanes' settings) reset it too. Only the launched app remembers; windows made by tests do
not read or write them."""

from __future__ import annotations

import json

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings

from ganviz.core.config import ConfigError, TrainConfig
from ganviz.core import modes as mode_registry
from ganviz.core.modes import MODES
from ganviz.core.session import Session


def settings() -> QSettings:
    return QSettings("ganviz", "ganviz")


class _SaveOnClose(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, event) -> bool:
        if obj is self.window and event.type() == QEvent.Type.Close:
            save(self.window)
        return False


def save(window) -> None:
    s = settings()
    s.setValue("window/geometry", window.saveGeometry())
    s.setValue("window/state", window.saveState())
    if window.frame is not None:
        s.setValue("session/mode", window.frame.mode)
        s.setValue("session/lanes", json.dumps([lane.cfg.to_json() for lane in window.frame.lanes]))
    s.sync()


def remembered_lanes(value) -> list[TrainConfig]:
    """The lanes' settings saved by `save`, or [] when there are none or they no longer load (an
    older format, a point file since deleted, a value out of range)."""
    if not isinstance(value, str):
        return []
    try:
        cfgs = [TrainConfig.from_json(text) for text in json.loads(value)]
    except (ConfigError, ValueError, TypeError, OSError):
        return []
    modes = {c.mode for c in cfgs}
    return cfgs if len(modes) == 1 and modes <= set(MODES) else []


def remember(window, restore_mode: bool) -> None:
    """Restore what the last launch saved, and save it again when `window` closes."""
    s = settings()
    geometry, state, mode = s.value("window/geometry"), s.value("window/state"), s.value("session/mode")
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    if isinstance(state, QByteArray):
        window.restoreState(state)
    lanes = remembered_lanes(s.value("session/lanes")) if restore_mode else []
    if lanes:
        window._post(Session.replace, lanes)
        window.say(f"Opened with the settings of the last session ({len(lanes)} lane"
                   f"{'s' if len(lanes) > 1 else ''}, {mode_registry.spec(lanes[0].mode).label}); "
                   "Restore defaults brings back the mode's defaults")
    elif restore_mode and mode in MODES:
        combo = window.mode_combo
        i = combo.findData(mode)
        if i >= 0 and combo.currentIndex() != i:
            combo.setCurrentIndex(i)  # the window's own mode change
    window.installEventFilter(_SaveOnClose(window))
