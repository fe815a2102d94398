"""Pick the compute device: CUDA or MPS when present, the CPU otherwise."""

from __future__ import annotations

import torch

from core.allocator import keep_freed_memory  # noqa: F401  (re-exported for the CLIs)

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


