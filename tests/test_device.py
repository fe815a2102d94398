"""Device choice and the allocator setting the command-line tools and the app apply."""

from __future__ import annotations

import ctypes
import sys

import pytest
import torch

from core.device import available_devices, keep_freed_memory, pick_device


def test_auto_picks_the_best_available_device_and_cpu_always_works():
    assert available_devices()[-1] == "cpu"
    assert pick_device("auto").type == available_devices()[0]
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["tpu", "CPU", ""])
def test_unknown_devices_are_refused_with_the_choices(name):
    with pytest.raises(ValueError, match="choose one of auto, cpu, cuda, mps"):
        pick_device(name)


def test_unavailable_device_is_refused_clearly():
    missing = [d for d in ("cuda", "mps") if d not in available_devices()]
    if not missing:
        pytest.skip("both accelerators present")
    with pytest.raises(ValueError, match="not available on this machine"):
        pick_device(missing[0])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc setting")
def test_keep_freed_memory_applies_on_glibc():
    try:
        ctypes.CDLL(None).mallopt  # noqa: B018
    except AttributeError:
        assert keep_freed_memory() is False  # another C library: left alone, no error
    else:
        assert keep_freed_memory() is True
