"""Process-wide settings that keep the GUI thread responsive while a worker thread adapts.

The adaptation runs in a worker thread of the same Python process, so the GUI thread needs the
GIL to paint. CPython hands the GIL over only every ``sys.getswitchinterval()`` seconds (5 ms
by default) while the worker runs Python code between torch operations; a paint that needs the
GIL a few times can then wait several intervals. A shorter interval bounds each wait. Python's
cyclic garbage collector stops every thread while it runs; freezing the objects alive after
start-up (the window, pyqtgraph's items, the learner) takes them out of every later full
collection, so collections during a demo stay short.
"""

from __future__ import annotations

import gc
import sys

from core.allocator import keep_freed_memory

#: GIL switch interval for the GUI process (CPython's default: 0.005 s).
SWITCH_INTERVAL = 0.001


def tune_process(switch_interval: float = SWITCH_INTERVAL) -> None:
    """Call once at program start, before the window is built."""
    keep_freed_memory()  # inner steps reuse their buffers instead of page-faulting new ones
    sys.setswitchinterval(switch_interval)


def freeze_startup_objects() -> None:
    """Call once the window is built and shown: later full collections skip what exists now."""
    gc.collect()
    gc.freeze()
