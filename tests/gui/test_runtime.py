"""The GUI process's runtime settings (metagui/runtime.py)."""

from __future__ import annotations

import gc
import sys

from metagui.control.runtime import SWITCH_INTERVAL, freeze_startup_objects, tune_process


def test_the_gil_is_handed_over_more_often_than_cpythons_default():
    before = sys.getswitchinterval()
    try:
        tune_process()
        assert sys.getswitchinterval() == SWITCH_INTERVAL < 0.005
    finally:
        sys.setswitchinterval(before)


def test_startup_objects_leave_later_collections():
    gc.unfreeze()
    alive = [object() for _ in range(1000)]
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() >= len(alive)
    finally:
        gc.unfreeze()
