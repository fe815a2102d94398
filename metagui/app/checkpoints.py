"""Where the shipped checkpoints are, and where the Omniglot data for sampled tasks is."""

from __future__ import annotations

import os
from pathlib import Path

from core.data.paths import data_root, omniglot_set_source

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


def data_status(split: str) -> tuple[Path, str | None]:
    """The data root and, when a task of ``split``'s test classes cannot be sampled, why not."""
    root = data_root()
    needed = ["evaluation"] if split == "lake" else ["background", "evaluation"]
    missing = [w for w in needed if omniglot_set_source(root, w) is None]
    if split != "lake" and not (root / "omniglot" / "splits" / "vinyals" / "test.txt").is_file():
        missing.append("Vinyals split files")
    if missing:
        what = ", ".join(f"images_{m}" if m in ("background", "evaluation") else m for m in missing)
        return root, (
            f"Omniglot data not found ({what} missing under {root / 'omniglot'}). "
            "Set METAGUI_DATA to a folder holding omniglot/ (see README, 'Data')."
        )
    return root, None
