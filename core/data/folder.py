"""A folder of class sub-folders (a user's photos or drawings) as a lazy ``FileDataset``.

Two layouts:

* explicit: ``root/train/<class>/``, ``root/val/<class>/``, ``root/test/<class>/`` (split
  ``"folders"``); a subset whose folder is missing is a DataNotFoundError.
* flat: ``root/<class>/`` (split ``"seeded"``): classes are ordered by the SHA-1 of their folder
  name (a fixed pseudo-random order: the same on every machine and release, and adding a class
  never moves another between subsets); the first 60 % train, then val and test with 20 % each and
  at least 2 classes apiece. Fewer than 6 classes cannot be split: a ValueError says so. Subset
  ``all`` gives every class.

Image files of any common format and size are read (by suffix: see ``IMAGE_SUFFIXES``); other
files and hidden files are ignored; an empty class folder is skipped with a warning naming it.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.base import FileDataset, class_layout, list_images, require_root
from core.data.paths import DataNotFoundError
from core.data.preprocess import DEFAULT_SIZE
from core.data.spec import PreprocessSpec

FOLDER_SUBSETS = ("train", "val", "test", "trainval", "all")
#: Share of the classes of a flat folder in val and in test (each), and the least each gets.
EVAL_SHARE, EVAL_MIN = 0.2, 2
#: Images opened to tell drawings from photos.
SNIFF_FILES = 24
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
RGB_SIZE = 84

_HOW = "point --data-root at a folder holding one sub-folder of images per class"


def class_dirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` (hidden ones ignored), sorted by name."""
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def files_by_class(dirs: list[Path]) -> tuple[list[str], list[list[Path]]]:
    """Class names and image files of ``dirs``; empty class folders are warned about, skipped."""
    names, files = [], []
    for d in dirs:
        found = list_images(d)
        if not found:
            warnings.warn(f"skipping class folder {d}: it holds no images", stacklevel=3)
            continue
        names.append(d.name)
        files.append(found)
    return names, files


def file_dataset(
    name: str,
    split: str,
    subset: str,
    root: Path,
    names: list[str],
    files: list[list[Path]],
    preprocess: PreprocessSpec,
) -> FileDataset:
    """A ``FileDataset`` of classes ``names`` with image ``files`` each."""
    if not names:
        raise ValueError(f"{root}: no class of {name} {subset} holds images; {_HOW}")
    offsets, counts = class_layout([len(f) for f in files])
    return FileDataset(
        name=name,
        split=split,
        subset=subset,
        root=root,
        names=tuple(names),
        offsets=offsets,
        counts=counts,
        preprocess=preprocess,
        paths=tuple(p for f in files for p in f),
    )


def seeded_split(names: list[str], where: Path) -> dict[str, list[str]]:
    """Train/val/test class names of a flat folder (see the module docstring)."""
    n = len(names)
    n_eval = max(EVAL_MIN, round(EVAL_SHARE * n))
    if n - 2 * n_eval < EVAL_MIN:
        raise ValueError(
            f"{where}: {n} usable class folders are too few to split into train/val/test "
            f"(at least {3 * EVAL_MIN}); add classes or make train/ val/ test/ sub-folders"
        )
    order = sorted(
        names, key=lambda s: (hashlib.sha1(s.encode("utf-8", "surrogateescape")).hexdigest(), s)
    )
    parts = {
        "train": order[: n - 2 * n_eval],
        "val": order[n - 2 * n_eval : n - n_eval],
        "test": order[n - n_eval :],
    }
    return {k: sorted(v) for k, v in parts.items()}


def is_explicit(root: Path) -> bool:
    """Whether ``root`` holds ``train/``, ``val/`` or ``test/`` sub-folders."""
    return any((root / s).is_dir() for s in ("train", "val", "test"))


def load_folder(root: Path, subset: str, preprocess: PreprocessSpec | None = None) -> FileDataset:
    """The ``folder`` dataset of ``root`` (see the module docstring)."""
    root = require_root(root, _HOW)
    if subset not in FOLDER_SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; choose one of {', '.join(FOLDER_SUBSETS)}")
    spec = preprocess or sniff_preprocess(root)
    if is_explicit(root):
        _check_disjoint(root)
        parts = ("train", "val") if subset == "trainval" else (subset,)
        if subset == "all":
            parts = tuple(s for s in ("train", "val", "test") if (root / s).is_dir())
        names, files = [], []
        for part in parts:
            if not (root / part).is_dir():
                raise DataNotFoundError(
                    f"{root / part}: no such folder; a folder with train/ val/ test/ "
                    f"sub-folders needs {part}/ for the {subset} subset"
                )
            n, f = files_by_class(class_dirs(root / part))
            names += n
            files += f
        if len(set(names)) != len(names):
            raise ValueError(f"{root}: the same class name appears in two of {', '.join(parts)}")
        return file_dataset("folder", "folders", subset, root, names, files, spec)
    names, files = files_by_class(class_dirs(root))
    if subset != "all":
        split = seeded_split(names, root)
        keep = set(split["train"] + split["val"]) if subset == "trainval" else set(split[subset])
        files = [f for n, f in zip(names, files, strict=True) if n in keep]
        names = [n for n in names if n in keep]
    return file_dataset("folder", "seeded", subset, root, names, files, spec)


def _check_disjoint(root: Path) -> None:
    """ValueError when a class folder name is in two of ``train/ val/ test/`` (validating or
    testing on a class the learner trained on would overstate its accuracy)."""
    seen: dict[str, str] = {}
    for part in ("train", "val", "test"):
        if not (root / part).is_dir():
            continue
        for d in class_dirs(root / part):
            if d.name in seen:
                raise ValueError(
                    f"{root}: class {d.name!r} is in both {seen[d.name]}/ and {part}/; a class "
                    "belongs to one subset (rename or remove one of them)"
                )
            seen[d.name] = part


def _is_gray(path: Path) -> bool | None:
    """Whether an image file is grayscale or 1-bit (also RGB with equal channels); None if
    unreadable."""
    try:
        with Image.open(path) as img:
            if img.mode in GRAY_MODES:
                return True
            img.thumbnail((64, 64))
            rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def sniff_preprocess(root: Path) -> PreprocessSpec:
    """ink 28 when the sampled images (first of each class, up to ``SNIFF_FILES``) are all
    grayscale or 1-bit (drawings), else rgb 84."""
    base = root / "train" if (root / "train").is_dir() else root
    if is_explicit(root) and not (root / "train").is_dir():
        base = next(root / s for s in ("val", "test") if (root / s).is_dir())
    sample = []
    for d in class_dirs(base):
        found = list_images(d)
        sample += found[:1]
        if len(sample) >= SNIFF_FILES:
            break
    verdicts = [v for v in (_is_gray(p) for p in sample) if v is not None]
    if verdicts and all(verdicts):
        return PreprocessSpec("ink", DEFAULT_SIZE)
    return PreprocessSpec("rgb", RGB_SIZE)
