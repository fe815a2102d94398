"""Datasets chosen by name: ``load_dataset(name, root, subset, preprocess, split)``.

| name           | root holds                                              | default preprocess |
|----------------|---------------------------------------------------------|--------------------|
| omniglot       | ``omniglot/`` (zips or folders, ``splits/vinyals``)     | ink 28             |
| miniimagenet   | ``miniimagenet/`` (``images/`` + Ravi CSVs, or folders) | rgb 84             |
| cifar-fs       | ``cifar-fs/cifar-100-python/`` (or ``cifar-100-python``) | rgb 32             |
| folder         | class sub-folders itself (or ``train/ val/ test/``)     | rgb 84 or ink 28   |

``split`` chooses among a dataset's class splits: Omniglot ``vinyals`` (default) or ``lake``; the
others have one (``ravi``, ``bertinetto``; a folder ``folders`` or ``seeded`` by its layout) and
accept None or that name.
"""

from __future__ import annotations

from pathlib import Path

from core.data.base import FewShotDataset
from core.data.cifar_fs import CIFAR_SIZE, CIFAR_SPLIT, load_cifar_fs
from core.data.folder import is_explicit, load_folder, sniff_preprocess
from core.data.miniimagenet import MINI_SPLIT, load_miniimagenet
from core.data.preprocess import DEFAULT_SIZE
from core.data.spec import PreprocessSpec
from core.data.splits import SPLITS, load_split

DATASETS = ("omniglot", "miniimagenet", "cifar-fs", "folder")
MINIIMAGENET_SIZE = 84


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def default_preprocess(name: str, root: Path) -> PreprocessSpec:
    """The preprocessing a dataset is trained with unless told otherwise.

    omniglot ink 28, miniimagenet rgb 84, cifar-fs rgb 32; folder: ink 28 when the sampled images
    are all grayscale or 1-bit (drawings), else rgb 84 (ImageNet mean/std for rgb).
    """
    _check_name(name)
    if name == "omniglot":
        return PreprocessSpec("ink", DEFAULT_SIZE)
    if name == "miniimagenet":
        return PreprocessSpec("rgb", MINIIMAGENET_SIZE)
    if name == "cifar-fs":
        return PreprocessSpec("rgb", CIFAR_SIZE)
    if not Path(root).is_dir():
        return PreprocessSpec("rgb", MINIIMAGENET_SIZE)  # load_dataset says what is missing
    return sniff_preprocess(Path(root))


def load_dataset(
    name: str,
    root: Path,
    subset: str,
    preprocess: PreprocessSpec | None = None,
    split: str | None = None,
) -> FewShotDataset:
    """The ``subset`` (train, val, test, trainval) of dataset ``name`` under ``root``.

    ``preprocess``: the spec items are decoded with (default: ``default_preprocess``).
    Raises ValueError or DataNotFoundError with a one-line reason.
    """
    _check_name(name)
    root = Path(root).expanduser()
    spec = preprocess or default_preprocess(name, root)
    if name == "omniglot":
        split = split or "vinyals"
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        if spec.kind != "ink":
            raise ValueError("omniglot is served as ink drawings; use an ink preprocess")
        return load_split(root, split, subset, spec.size)
    if name == "folder":
        own = "folders" if root.is_dir() and is_explicit(root) else "seeded"
    else:
        own = MINI_SPLIT if name == "miniimagenet" else CIFAR_SPLIT
    if split is not None and split != own:
        raise ValueError(f"dataset {name} has the one split {own!r}, not {split!r}")
    if name == "miniimagenet":
        return load_miniimagenet(root, subset, spec)
    if name == "cifar-fs":
        return load_cifar_fs(root, subset, spec)
    return load_folder(root, subset, spec)
