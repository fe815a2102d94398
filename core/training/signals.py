"""Ctrl+C (SIGINT) and ``kill`` (SIGTERM) ask a run to stop at the next step boundary.

A signal that lands inside a meta-step must not cut it in half (weights of step s with the
BatchNorm statistics of step s+1): the first signal only sets a flag, which the trainer reads
between steps, so the saved ``last.pt`` resumes exactly as if the run had not been stopped. A
second signal stops at once without saving (``last.pt`` keeps the last completed save).
Background ``nohup`` runs ignore SIGINT; that stays so.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class StopRequest:
    """Set by the first SIGINT/SIGTERM; ``requested()`` is read between training steps."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def requested(self) -> bool:
        return self.signal is not None

    def _handle(self, signum, frame) -> None:
        if self.signal is not None:  # asked twice: stop now
            raise KeyboardInterrupt
        self.signal = signum


@contextlib.contextmanager
def stop_at_step_boundary() -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM set the yielded request instead of raising (main
    thread only; elsewhere the request is never set)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # nohup: ignored it stays
        previous[signum] = signal.signal(signum, request._handle)
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt like Ctrl+C (main thread only;
    elsewhere a no-op). For a loop that keeps its last completed step aside and saves that
    (the window's live runs, ``core.training.live``), not for ``core.train``'s loop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
