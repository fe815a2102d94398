"""Pick the compute device: CUDA or MPS when present, the CPU otherwise."""

from __future__ import annotations

import ctypes
import sys

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def available_devices() -> list[str]:
    """Names of the devices usable here, best first, always ending with ``"cpu"``."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def pick_device(name: str = "auto") -> torch.device:
    """Return ``torch.device`` for ``name``; ``"auto"`` takes the best available one.

    Raises ValueError with a one-line reason when the requested device is not available.
    """
    if name == "auto":
        return torch.device(available_devices()[0])
    if name not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if name not in available_devices():
        raise ValueError(f"device {name!r} is not available on this machine; use 'cpu' or 'auto'")
    return torch.device(name)


#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Let glibc reuse freed activation buffers instead of returning them to the system.

    By default glibc serves every allocation above a few MB with a fresh ``mmap`` and unmaps it
    when freed, so each large tensor of every inner step is page-faulted in (and zeroed by the
    kernel) anew. Raising the mmap threshold to glibc's maximum (32 MiB) and keeping up to
    ``trim_threshold`` of freed heap made a meta-step ~10-25 % faster on this CPU
    (benchmarks/maml_speed.py). Process-wide; call once at program start. Returns False (and
    changes nothing) where glibc is not the allocator.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    return mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1 and done
