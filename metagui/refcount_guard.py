"""Guard against a reference-counting bug of PySide6 6.12.0 on CPython before 3.12.

That build drops one reference to ``None`` on every call of a void Qt method (``setText``,
``postEvent``, ...) and one to ``True`` on every ``Signal.emit`` (it assumes these singletons are
immortal, as they are from CPython 3.12 on). On CPython 3.11 the interpreter aborts with
"deallocating None/True" once a count reaches zero: after a few hundred signals. PySide6 6.11.3
does not have the bug; the real fix is to avoid 6.12.0 (``PySide6-Essentials!=6.12.0``).

When the bug is detected, a timer on the GUI thread keeps the counts topped up by holding extra
references (8 bytes each), so the app keeps running.
"""

from __future__ import annotations

import sys
import warnings

from PySide6.QtCore import QObject, QTimer, Signal

#: Keep at least this many references to each singleton.
FLOOR = 200_000
#: Check every this many milliseconds.
INTERVAL_MS = 100

_guard: RefcountGuard | None = None


class _Probe(QObject):
    ping = Signal()


def bug_present() -> bool:
    """True when emitting a signal loses a reference to ``True`` or a void call one to ``None``."""
    if sys.version_info >= (3, 12):
        return False  # immortal singletons: nothing to lose
    probe = _Probe()
    before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(20):
        probe.ping.emit()
        probe.setObjectName("probe")
    lost_true = before_true - sys.getrefcount(True)
    lost_none = before_none - sys.getrefcount(None)
    probe.deleteLater()
    return lost_true >= 20 or lost_none >= 20


class RefcountGuard(QObject):
    def __init__(self) -> None:
        super().__init__()
        self._refs: list[object] = []
        self._top_up()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._top_up)
        self._timer.start(INTERVAL_MS)

    def _top_up(self) -> None:
        for obj in (None, True, False):
            missing = FLOOR - sys.getrefcount(obj)
            if missing > 0:
                self._refs.extend([obj] * missing)


def install() -> bool:
    """Start the guard if this PySide6 needs it (idempotent); return whether it runs."""
    global _guard
    if _guard is not None:
        return True
    if not bug_present():
        return False
    from PySide6 import __version__ as pyside_version

    warnings.warn(
        f"PySide6 {pyside_version} loses references to None/True on Python "
        f"{sys.version_info.major}.{sys.version_info.minor}; metagui works around it. "
        "Install another PySide6 (pip install 'PySide6-Essentials!=6.12.0') to avoid it.",
        RuntimeWarning,
        stacklevel=2,
    )
    _guard = RefcountGuard()
    return True
