"""mini-ImageNet (Vinyals et al. 2016; Ravi & Larochelle 2017 split) as a lazy ``FileDataset``.

``root/miniimagenet/`` in either common layout:

* ``images/*.jpg`` plus the Ravi split CSVs (``filename,label``; 64/16/20 classes of 600) in
  ``splits/ravi/{train,val,test}.csv`` or beside ``images/`` as ``{train,val,test}.csv``;
* ``{train,val,test}/<wnid>/*.jpg`` (one folder per class).

Items are decoded from the JPEG files when an episode needs them (use DataLoader workers).
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

from core.data.base import FileDataset, is_image_file
from core.data.folder import class_dirs, file_dataset, files_by_class
from core.data.paths import DataNotFoundError
from core.data.spec import PreprocessSpec

MINI_SUBSETS = ("train", "val", "test", "trainval")
MINI_SPLIT = "ravi"

_HOW = (
    "put mini-ImageNet there as images/*.jpg with splits/ravi/{train,val,test}.csv, or as "
    "train/ val/ test/<wnid>/*.jpg, or point --data-root or METAGUI_DATA at a folder holding "
    "miniimagenet/"
)


def _csv_file(base: Path, part: str) -> Path | None:
    for path in (base / "splits" / MINI_SPLIT / f"{part}.csv", base / f"{part}.csv"):
        if path.is_file():
            return path
    return None


def _read_csv(path: Path) -> list[tuple[str, str]]:
    """``(filename, label)`` rows of a Ravi split CSV (header optional)."""
    with path.open(newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["filename", "label"]:
        rows = rows[1:]
    bad = next((r for r in rows if len(r) < 2), None)
    if bad is not None:
        raise ValueError(f"{path}: expected 'filename,label' rows, found {','.join(bad)!r}")
    return [(r[0].strip(), r[1].strip()) for r in rows]


def _from_csv(base: Path, part: str) -> tuple[list[str], list[list[Path]]]:
    path = _csv_file(base, part)
    if path is None:
        raise DataNotFoundError(
            f"{base}: found images/ but no {part}.csv (in splits/{MINI_SPLIT}/ or beside "
            f"images/); copy the Ravi split files there"
        )
    images = base / "images"
    with os.scandir(images) as it:
        present = {e.name for e in it if is_image_file(Path(e.name))}
    by_label: dict[str, list[Path]] = {}
    missing = []
    for filename, label in _read_csv(path):
        if filename in present:
            by_label.setdefault(label, []).append(images / filename)
        else:
            missing.append(filename)
            by_label.setdefault(label, [])
    if missing:
        warnings.warn(
            f"{path}: {len(missing)} listed image(s) missing from {images}, e.g. {missing[0]}; "
            "skipped",
            stacklevel=3,
        )
    names, files = [], []
    for label in sorted(by_label):
        if not by_label[label]:
            warnings.warn(f"skipping class {label}: no image of it in {images}", stacklevel=3)
            continue
        names.append(label)
        files.append(by_label[label])
    return names, files


def load_miniimagenet(root: Path, subset: str, preprocess: PreprocessSpec) -> FileDataset:
    """The ``subset`` of mini-ImageNet under ``root/miniimagenet`` (see the module docstring)."""
    if subset not in MINI_SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; choose one of {', '.join(MINI_SUBSETS)}")
    base = Path(root) / "miniimagenet"
    if not base.is_dir():
        raise DataNotFoundError(f"{base}: no such folder; {_HOW}")
    parts = ("train", "val") if subset == "trainval" else (subset,)
    names: list[str] = []
    files: list[list[Path]] = []
    for part in parts:
        if (base / "images").is_dir():
            n, f = _from_csv(base, part)
        elif (base / part).is_dir():
            n, f = files_by_class(class_dirs(base / part))
        else:
            raise DataNotFoundError(f"{base}: holds neither images/ nor {part}/; {_HOW}")
        names += n
        files += f
    if len(set(names)) != len(names):
        raise ValueError(f"{base}: a class appears in two of {', '.join(parts)}")
    return file_dataset("miniimagenet", MINI_SPLIT, subset, Path(root), names, files, preprocess)
