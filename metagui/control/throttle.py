"""Rate limiting on the GUI thread, on superqt's ``qthrottled`` and ``qdebounced``."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from superqt.utils import qdebounced, qthrottled


class Throttle(QObject):
    """``request()`` runs ``callback`` at once when it has not run for ``interval_ms``, else
    once at the end of the interval, with the newest state (``qthrottled``, leading edge):
    isolated updates are immediate, bursts are capped."""

    def __init__(self, interval_ms: int, callback: Callable[[], None], parent=None) -> None:
        super().__init__(parent)
        self.callback = callback
        self._pending = False
        self._throttled = qthrottled(self._fire, interval_ms, leading=True, parent=self)

    def request(self) -> None:
        self._pending = True
        self._throttled()

    def pending(self) -> bool:
        """An update is scheduled."""
        return self._pending

    def flush(self) -> None:
        """Run a scheduled update now."""
        self._throttled.flush()

    def now(self) -> None:
        """Run the update now (a final result)."""
        self._pending = True
        self._throttled()
        self._throttled.flush()  # runs it unless the call above already did

    def _fire(self) -> None:
        self._pending = False
        self.callback()


class Debounce(QObject):
    """``request()`` runs ``callback`` once requests pause for ``delay_ms`` (``qdebounced``)
    and at least every ``max_wait_ms`` while they keep coming (a trailing ``qthrottled``:
    live updates while the pen moves)."""

    def __init__(self, delay_ms: int, max_wait_ms: int, callback: Callable[[], None], parent=None):
        super().__init__(parent)
        self.callback = callback
        self._debounced = qdebounced(self._fire, delay_ms, parent=self)
        self._max = qthrottled(self._fire, max_wait_ms, leading=False, parent=self)

    def request(self) -> None:
        self._debounced()
        self._max()

    def cancel(self) -> None:
        self._debounced.cancel()
        self._max.cancel()

    def _fire(self) -> None:
        self.cancel()
        self.callback()
