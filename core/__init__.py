"""Headless meta-learning core: data, models, algorithms, and the train/evaluate/predict CLIs.

This package must never import PySide6, pyqtgraph or metagui (a test checks it).

``core`` is a generic top-level name that other distributions may also install. ``METAGUI_CORE``
marks this one as metagui's; at import, another top-level ``core`` on ``sys.path`` (which this
one hides, or which hides this one) is reported in one line as a ``CoreNameWarning``, and
``metagui`` refuses to start on a ``core`` without the marker. Nothing else is imported here
(the window's widgets import this package for the check and must stay light).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

__version__ = "0.2.0"

#: Says that this ``core`` is metagui's (the wheel's metadata also lists ``core`` and ``metagui``).
METAGUI_CORE = True


class CoreNameWarning(UserWarning):
    """Another distribution's top-level ``core`` is on ``sys.path`` beside metagui's."""


def other_cores(path: list[str] | None = None) -> list[Path]:
    """Top-level ``core`` packages or modules on ``path`` (default ``sys.path``) that are not a
    copy of metagui's ``core``: a few file checks per entry, no imports."""
    ours = Path(__file__).resolve().parent
    found: list[Path] = []
    for entry in sys.path if path is None else path:
        base = Path(entry or ".")
        package, module = base / "core" / "__init__.py", base / "core.py"
        try:
            if package.is_file():
                if package.resolve().parent == ours or "METAGUI_CORE = True" in package.read_text(
                    errors="replace"
                ):
                    continue  # this one, or another checkout or install of metagui
                found.append(package.parent)
            elif module.is_file():
                found.append(module)
        except OSError:
            continue
    return found


def _say_if_shared() -> None:
    others = other_cores()
    if others:
        warnings.warn(
            f"metagui's 'core' ({Path(__file__).resolve().parent}) shares its top-level name with "
            f"another 'core' on sys.path ({', '.join(map(str, others))}); whichever comes first "
            "hides the other: install metagui in a venv of its own (README, 'The core name')",
            CoreNameWarning,
            stacklevel=3,
        )


_say_if_shared()
