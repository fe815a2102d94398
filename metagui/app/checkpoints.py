"""Where the shipped checkpoints are (no Qt, no torch): ``core.shipped``'s folder, the window's
default first. ``core.shipped`` is imported when asked (the widgets import this module and stay
free of ``core``'s modules)."""

from __future__ import annotations

from pathlib import Path

#: The file picked by default when it is there.
DEFAULT_CHECKPOINT = "anil-omniglot.pt"


def checkpoint_dir() -> Path:
    """``METAGUI_CHECKPOINTS``, else the shipped checkpoints installed with the packages."""
    from core.shipped import checkpoint_dir

    return checkpoint_dir()


def shipped_checkpoints(folder: Path | None = None) -> list[Path]:
    """Every ``.pt`` file in the checkpoint folder, the default one first."""
    from core.shipped import shipped_checkpoints

    found = shipped_checkpoints(folder)
    found.sort(key=lambda p: p.name != DEFAULT_CHECKPOINT)
    return found
