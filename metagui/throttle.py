"""Rate limiting on the GUI thread: run at once when idle, else at most once per interval."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


class Throttle(QObject):
    """``request()`` runs ``callback`` now if it has not run for ``interval_ms``, else later
    (once, with the newest state): isolated updates are immediate, bursts are capped."""

    def __init__(self, interval_ms: int, callback: Callable[[], None], parent=None) -> None:
        super().__init__(parent)
        self._interval = interval_ms / 1000.0
        self._callback = callback
        self._last = -1e9
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._fire)

    @property
    def callback(self) -> Callable[[], None]:
        return self._callback

    @callback.setter
    def callback(self, callback: Callable[[], None]) -> None:
        self._callback = callback

    def pending(self) -> bool:
        """An update is scheduled."""
        return self._timer.isActive()

    def request(self) -> None:
        if self._timer.isActive():
            return
        wait = self._last + self._interval - time.perf_counter()
        if wait <= 0:
            self._fire()
        else:
            self._timer.start(max(1, int(wait * 1000)))

    def flush(self) -> None:
        """Run a scheduled update now."""
        if self._timer.isActive():
            self._timer.stop()
            self._fire()

    def now(self) -> None:
        """Run the update now (a final result), cancelling a scheduled one."""
        self._timer.stop()
        self._fire()

    def _fire(self) -> None:
        self._last = time.perf_counter()
        self._callback()


class Debounce(QObject):
    """``request()`` runs ``callback`` once requests pause for ``delay_ms``, and at least every
    ``max_wait_ms`` while they keep coming (live updates while the pen moves)."""

    def __init__(self, delay_ms: int, max_wait_ms: int, callback: Callable[[], None], parent=None):
        super().__init__(parent)
        self._callback = callback
        self._delay = QTimer(self)
        self._delay.setSingleShot(True)
        self._delay.setInterval(delay_ms)
        self._delay.timeout.connect(self._fire)
        self._max = QTimer(self)
        self._max.setSingleShot(True)
        self._max.setInterval(max_wait_ms)
        self._max.timeout.connect(self._fire)

    def request(self) -> None:
        self._delay.start()
        if not self._max.isActive():
            self._max.start()

    def cancel(self) -> None:
        self._delay.stop()
        self._max.stop()

    def _fire(self) -> None:
        self.cancel()
        self._callback()


def throttle(interval_ms: int, callback: Callable[[], None], parent=None):
    """A ``Throttle``, or its superqt equivalent (see ``metagui.worker.BACKEND``)."""
    from metagui import worker

    if worker.BACKEND == "superqt":
        from metagui.superqt_workers import QThrottle

        return QThrottle(interval_ms, callback, parent)
    return Throttle(interval_ms, callback, parent)


def debounce(delay_ms: int, max_wait_ms: int, callback: Callable[[], None], parent=None):
    """A ``Debounce``, or its superqt equivalent (see ``metagui.worker.BACKEND``)."""
    from metagui import worker

    if worker.BACKEND == "superqt":
        from metagui.superqt_workers import QDebounce

        return QDebounce(delay_ms, max_wait_ms, callback, parent)
    return Debounce(delay_ms, max_wait_ms, callback, parent)
