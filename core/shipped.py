"""Where the shipped checkpoints are, and a checkpoint named on a command line (no torch).

The checkpoints' source is the top-level ``assets/checkpoints/`` folder of the project. The built
distribution installs that folder as the package ``core.assets`` (pyproject.toml maps it), so an
installed copy (wheel, pipx, editable) finds it through ``importlib.resources``; a source checkout
run without installing (``PYTHONPATH``) uses its own ``assets/checkpoints``.
``METAGUI_CHECKPOINTS`` overrides both.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

#: Environment variable naming another checkpoint folder.
ENV = "METAGUI_CHECKPOINTS"
#: How command lines and recipes name a shipped checkpoint relative to a source checkout.
SOURCE_FOLDER = Path("assets") / "checkpoints"


def checkpoint_dir() -> Path:
    """``$METAGUI_CHECKPOINTS``, else the shipped checkpoints' folder (installed or source)."""
    override = os.environ.get(ENV)
    if override:
        return Path(override).expanduser()
    source = Path(__file__).resolve().parents[1]
    if (source / "pyproject.toml").is_file() and (source / SOURCE_FOLDER).is_dir():
        return source / SOURCE_FOLDER  # running from a source checkout
    try:
        folder = resources.files("core.assets") / "checkpoints"
    except ModuleNotFoundError:  # installed without its assets: callers say the folder is empty
        return source / SOURCE_FOLDER
    return folder if isinstance(folder, Path) else Path(str(folder))


def shipped_checkpoints(folder: Path | None = None) -> list[Path]:
    """Every ``.pt`` file in ``folder`` (default: ``checkpoint_dir()``), sorted by name."""
    folder = checkpoint_dir() if folder is None else folder
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.pt") if p.is_file())


def resolve_checkpoint(text: str | os.PathLike) -> Path:
    """A checkpoint given on a command line: an existing file as given; else a shipped one named
    ``NAME``, ``NAME.pt`` or ``assets/checkpoints/NAME.pt`` (so the README's commands and the
    recipes work from any folder); else the path as given (loading it then says it is missing).
    """
    path = Path(text).expanduser()
    if path.exists() or path.parent not in (Path("."), SOURCE_FOLDER):
        return path
    name = path.name if path.suffix == ".pt" else f"{path.name}.pt"
    shipped = checkpoint_dir() / name
    return shipped if shipped.is_file() else path
