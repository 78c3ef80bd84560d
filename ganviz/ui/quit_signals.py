"""Ctrl-C and SIGTERM in the terminal that launched the window close it as its close button does."""

from __future__ import annotations

import signal

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

# Python runs a signal handler only when the interpreter gets control; inside Qt's event loop that is
# when Qt calls Python code. A timer that calls into Python this often bounds how late Ctrl-C is seen.
POLL_MS = 200
NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


class QuitOnSignals(QObject):
    """While installed, SIGINT and SIGTERM close every window (each closeEvent stops and joins its
    training thread and cancels its loads and downloads) and end the event loop. `received` is the
    first signal (a second one while closing is ignored); `exit_code` is 128 + its number, as a shell
    reports a process stopped by it."""

    def __init__(self, app: QApplication, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)):
        super().__init__(app)
        self.received: int | None = None
        self._previous = {sig: signal.signal(sig, self._handle) for sig in signals}
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(lambda: None)  # only lets the interpreter run pending handlers
        self._timer.start()

    def _handle(self, signum: int, _frame) -> None:
        if self.received is None:
            self.received = signum
            QTimer.singleShot(0, self._close)  # from the event loop, not from inside whatever was interrupted

    @staticmethod
    def _close() -> None:
        QApplication.closeAllWindows()
        QApplication.quit()

    @property
    def exit_code(self) -> int | None:
        return None if self.received is None else 128 + int(self.received)

    @property
    def reason(self) -> str:
        return NAMES.get(self.received, f"stopped by signal {self.received}")

    def restore(self) -> None:
        """Put back the handlers that were there before."""
        self._timer.stop()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
