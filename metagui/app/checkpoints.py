"""Where the shipped checkpoints are (no Qt, no torch)."""

from __future__ import annotations

import os
from pathlib import Path

#: The file picked by default when it is there.
DEFAULT_CHECKPOINT = "anil-omniglot.pt"


def checkpoint_dir() -> Path:
    """``METAGUI_CHECKPOINTS`` or ``assets/checkpoints`` next to the installed packages."""
    override = os.environ.get("METAGUI_CHECKPOINTS")
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[2] / "assets" / "checkpoints"


def shipped_checkpoints(folder: Path | None = None) -> list[Path]:
    """Every ``.pt`` file in the checkpoint folder, the default one first."""
    folder = checkpoint_dir() if folder is None else folder
    if not folder.is_dir():
        return []
    found = sorted(p for p in folder.glob("*.pt") if p.is_file())
    found.sort(key=lambda p: p.name != DEFAULT_CHECKPOINT)
    return found
