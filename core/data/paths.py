"""Where the data lives: ``--data-root``, then ``METAGUI_DATA``, then the user cache (downloaded).

The data root holds ``omniglot/`` laid out like the official release: ``images_background.zip``
and ``images_evaluation.zip`` (or their extracted folders) plus ``splits/vinyals/*.txt``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

OMNIGLOT_SETS = ("background", "evaluation")
#: The official Omniglot release zips (Lake et al.). Override with ``METAGUI_OMNIGLOT_URL``.
OMNIGLOT_URL = "https://github.com/brendenlake/omniglot/raw/master/python"
#: The Vinyals split files as published with Prototypical Networks (Snell et al.).
#: Override with ``METAGUI_SPLITS_URL``.
SPLITS_URL = (
    "https://raw.githubusercontent.com/jakesnell/prototypical-networks/master/"
    "data/omniglot/splits/vinyals"
)
SPLIT_FILES = ("train.txt", "val.txt", "trainval.txt", "test.txt")


class DataNotFoundError(FileNotFoundError):
    """The dataset is absent and could not be fetched; the message says how to provide it."""


def cache_dir() -> Path:
    """User cache folder: ``METAGUI_CACHE``, else ``$XDG_CACHE_HOME/metagui``, else ~/.cache."""
    if os.environ.get("METAGUI_CACHE"):
        return Path(os.environ["METAGUI_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "metagui"


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The folder that holds (or will hold) ``omniglot/``: explicit > METAGUI_DATA > cache."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("METAGUI_DATA"):
        return Path(os.environ["METAGUI_DATA"]).expanduser()
    return cache_dir()


def omniglot_set_source(root: Path, which: str) -> Path | None:
    """The extracted folder or zip of ``images_<which>`` under ``root/omniglot``, if present."""
    base = root / "omniglot"
    folder = base / f"images_{which}"
    if folder.is_dir():
        return folder
    archive = base / f"images_{which}.zip"
    return archive if archive.is_file() else None


def _missing_message(root: Path, what: str, reason: str) -> str:
    return (
        f"Omniglot {what} not found under {root / 'omniglot'} ({reason}). Put the official "
        "images_background.zip / images_evaluation.zip and splits/vinyals/*.txt there, or point "
        "--data-root or METAGUI_DATA at a folder holding omniglot/ (see README, 'Data')."
    )


def _download(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` atomically (temporary file, then rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_omniglot_set(root: Path, which: str, download: bool | None = None) -> Path:
    """Return the source of ``images_<which>``, downloading it into ``root`` when allowed.

    ``download=None`` downloads only when ``root`` is the default cache folder (never into a
    folder the user named). Raises DataNotFoundError with instructions when it stays absent.
    """
    if which not in OMNIGLOT_SETS:
        raise ValueError(f"unknown Omniglot set {which!r}; choose {' or '.join(OMNIGLOT_SETS)}")
    found = omniglot_set_source(root, which)
    if found is not None:
        return found
    if download is None:
        download = root == cache_dir()
    if not download:
        raise DataNotFoundError(_missing_message(root, f"images_{which}", "not there"))
    base = os.environ.get("METAGUI_OMNIGLOT_URL", OMNIGLOT_URL).rstrip("/")
    dest = root / "omniglot" / f"images_{which}.zip"
    try:
        _download(f"{base}/images_{which}.zip", dest)
    except (urllib.error.URLError, OSError) as exc:
        raise DataNotFoundError(
            _missing_message(root, f"images_{which}", f"download from {base} failed: {exc}")
        ) from None
    return dest


def ensure_vinyals_splits(root: Path, download: bool | None = None) -> Path:
    """Return the folder holding the Vinyals split files, downloading them when allowed."""
    folder = root / "omniglot" / "splits" / "vinyals"
    missing = [name for name in SPLIT_FILES if not (folder / name).is_file()]
    if not missing:
        return folder
    if download is None:
        download = root == cache_dir()
    if not download:
        raise DataNotFoundError(_missing_message(root, "Vinyals split files", "not there"))
    base = os.environ.get("METAGUI_SPLITS_URL", SPLITS_URL).rstrip("/")
    try:
        for name in missing:
            _download(f"{base}/{name}", folder / name)
    except (urllib.error.URLError, OSError) as exc:
        raise DataNotFoundError(
            _missing_message(root, "Vinyals split files", f"download from {base} failed: {exc}")
        ) from None
    return folder
