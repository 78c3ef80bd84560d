"""Settings remembered between launches of `ganviz` (QSettings): the window's geometry, its docks
(the Lessons panel open or not) and the last mode, which the next launch opens in unless --mode
is given. Only the launched app remembers; windows made by tests do not read or write them."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings

from ganviz.core.modes import MODES


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
    s.sync()


def remember(window, restore_mode: bool) -> None:
    """Restore what the last launch saved, and save it again when `window` closes."""
    s = settings()
    geometry, state, mode = s.value("window/geometry"), s.value("window/state"), s.value("session/mode")
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    if isinstance(state, QByteArray):
        window.restoreState(state)
    if restore_mode and mode in MODES:
        combo = window.mode_combo
        i = combo.findData(mode)
        if i >= 0 and combo.currentIndex() != i:
            combo.setCurrentIndex(i)  # the window's own mode change
    window.installEventFilter(_SaveOnClose(window))
