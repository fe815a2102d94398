"""What Help ▸ About says (no Qt, and no torch import: its version is read from the loaded module
or the installed metadata): versions, device, and the folders the app reads."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import core
from metagui import __version__
from metagui.app.checkpoints import checkpoint_dir

#: Where the desktop files (icon, .desktop, session MIME type) are installed with the package.
DESKTOP_FILES = Path(__file__).resolve().parents[1] / "desktop"


NO_DATA = " (no Omniglot there: only needed to sample tasks; README, 'Data')"


@dataclass(frozen=True)
class About:
    version: str
    python: str
    torch: str
    qt: str
    device: str
    checkpoint: Path | None  # the checkpoint in use
    checkpoint_folder: Path
    data_folder: Path
    data_found: bool  # Omniglot under data_folder (needed only to sample tasks)
    core_folder: Path
    other_cores: tuple[Path, ...]  # other top-level 'core' packages on sys.path


def _torch_version() -> str:
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.__version__
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "not installed"


def gather(qt: str, device: str, checkpoint: Path | None) -> About:
    """``qt``: the Qt and PySide versions as the window reads them; ``device``: the learner's."""
    from core.data.paths import data_root, omniglot_set_source

    data = data_root(None)
    found = any(omniglot_set_source(data, s) is not None for s in ("background", "evaluation"))
    return About(
        __version__, platform.python_version(), _torch_version(), qt, str(device), checkpoint,
        checkpoint_dir(), data, found, Path(core.__file__).resolve().parent,
        tuple(core.other_cores()),
    )  # fmt: skip


def lines(about: About) -> list[tuple[str, str]]:
    """``(label, value)`` rows, in the order shown."""
    rows = [
        ("metagui", about.version),
        ("Python", about.python),
        ("torch", about.torch),
        ("Qt", about.qt),
        ("Device", about.device.upper()),
        ("Checkpoint", str(about.checkpoint) if about.checkpoint else "none loaded"),
        ("Checkpoint folder", str(about.checkpoint_folder)),
        ("Data folder", f"{about.data_folder}{'' if about.data_found else NO_DATA}"),
        ("core package", str(about.core_folder)),
    ]
    if about.other_cores:
        others = ", ".join(map(str, about.other_cores))
        rows.append(("Warning", f"another top-level 'core' on sys.path: {others}"))
    return rows


def text(about: About) -> str:
    """Plain text, one ``label: value`` per line (copied to the clipboard by the dialog)."""
    return "\n".join(f"{label}: {value}" for label, value in lines(about))
