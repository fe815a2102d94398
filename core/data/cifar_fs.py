"""CIFAR-FS (Bertinetto et al. 2019): CIFAR-100's 32x32 photos with a 64/16/20 class split.

The images are CIFAR-100's python pickles, ``root/cifar-fs/cifar-100-python/{train,test,meta}``
(or ``root/cifar-100-python/``, where torchvision's ``CIFAR100`` puts them). Train and test
pickles are pooled: 600 images per class. The class split is ``root/cifar-fs/splits/<subset>.txt``
(one CIFAR-100 fine class name per line) when present, else the published split built in below.
When the images are absent and the root is the default cache folder, the official archive is
downloaded (``METAGUI_CIFAR_URL`` overrides the address); never into a folder the user named.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import urllib.error
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.data.base import InMemoryDataset, class_layout
from core.data.paths import DataNotFoundError, cache_dir
from core.data.spec import PreprocessSpec

CIFAR_SUBSETS = ("train", "val", "test", "trainval")
CIFAR_SPLIT = "bertinetto"
#: The official CIFAR-100 python archive and its MD5 (checked only for this address).
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
CIFAR_SIZE = 32
#: The CIFAR-FS split as published with torchmeta (MIT licence): CIFAR-100 fine class names.
_SPLIT_TEXT = {
    "train": """
    dolphin seal aquarium_fish ray trout orchid sunflower tulip bottle bowl can cup plate
    apple mushroom orange pear clock keyboard chair couch bee caterpillar cockroach bear lion
    tiger wolf bridge castle house road skyscraper cloud forest mountain elephant kangaroo
    porcupine possum raccoon skunk lobster spider boy girl dinosaur lizard snake turtle
    hamster mouse rabbit shrew squirrel oak_tree palm_tree pine_tree willow_tree bus train
    lawn_mower streetcar tank
    """,
    "val": """
    beaver otter flatfish shark lamp television beetle butterfly sea camel cattle crab
    crocodile maple_tree motorcycle tractor
    """,
    "test": """
    whale poppy rose sweet_pepper telephone bed table wardrobe leopard plain chimpanzee fox
    snail worm baby man woman bicycle pickup_truck rocket
    """,
}
SPLIT_CLASSES = {part: tuple(text.split()) for part, text in _SPLIT_TEXT.items()}
_HOW = (
    "put CIFAR-100's python version (cifar-100-python/{train,test,meta}, from "
    f"{CIFAR_URL}) in it, or point --data-root or METAGUI_DATA at a folder holding "
    "cifar-fs/cifar-100-python/"
)
_ALLOWED = {
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings and numpy arrays only (no arbitrary code)."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            d = _ArrayUnpickler(f, encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable CIFAR-100 pickle ({exc})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: not a readable CIFAR-100 pickle (no dict inside)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}


def cifar_source(root: Path) -> Path | None:
    """The ``cifar-100-python`` folder under ``root`` (two accepted places), if present."""
    for folder in (root / "cifar-fs" / "cifar-100-python", root / "cifar-100-python"):
        if all((folder / name).is_file() for name in ("train", "test", "meta")):
            return folder
    return None


def ensure_cifar(root: Path, download: bool | None = None) -> Path:
    """The CIFAR-100 pickles' folder, downloading and extracting them into ``root/cifar-fs``
    when allowed (``download=None``: only when ``root`` is the default cache folder)."""
    root = Path(root)
    found = cifar_source(root)
    if found is not None:
        return found
    if download is None:
        download = root == cache_dir()
    if not download:
        raise DataNotFoundError(f"CIFAR-100 not found under {root / 'cifar-fs'}; {_HOW}")
    from torchvision.datasets.utils import download_and_extract_archive

    url = os.environ.get("METAGUI_CIFAR_URL", CIFAR_URL)
    dest = root / "cifar-fs"
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".download-"))
    try:  # download and extract aside, then move into place: no half-written data is ever used
        download_and_extract_archive(
            url,
            tmp,
            filename="cifar-100-python.tar.gz",
            md5=CIFAR_MD5 if url == CIFAR_URL else None,
            remove_finished=True,
        )
        if cifar_source(tmp) is None:
            raise ValueError("the archive holds no cifar-100-python/{train,test,meta}")
        os.replace(tmp / "cifar-100-python", dest / "cifar-100-python")
    except (urllib.error.URLError, OSError, RuntimeError, ValueError) as exc:
        raise DataNotFoundError(
            f"CIFAR-100 not found under {dest} and the download from {url} failed ({exc}); {_HOW}"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / "cifar-100-python"


def _split_names(root: Path, part: str) -> list[str]:
    path = root / "cifar-fs" / "splits" / f"{part}.txt"
    return path.read_text().split() if path.is_file() else list(SPLIT_CLASSES[part])


def _decode(images: np.ndarray, spec: PreprocessSpec) -> torch.Tensor:
    """``(n, 3, 32, 32)`` uint8 -> the spec's stored form ``(n, C, S, S)``."""
    if spec.kind == "rgb" and spec.size == CIFAR_SIZE:
        return torch.from_numpy(np.ascontiguousarray(images))
    hwc = images.transpose(0, 2, 3, 1)
    return torch.stack([spec.decode(Image.fromarray(a)) for a in hwc])


def load_cifar_fs(root: Path, subset: str, preprocess: PreprocessSpec) -> InMemoryDataset:
    """The ``subset`` of CIFAR-FS under ``root`` (see the module docstring)."""
    if subset not in CIFAR_SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; choose one of {', '.join(CIFAR_SUBSETS)}")
    root = Path(root)
    source = ensure_cifar(root)
    meta = _load_pickle(source / "meta")
    label_names = [n.decode() if isinstance(n, bytes) else n for n in meta["fine_label_names"]]
    data, labels = [], []
    for part in ("train", "test"):
        d = _load_pickle(source / part)
        if "data" not in d or "fine_labels" not in d:
            raise ValueError(f"{source / part}: no data/fine_labels; not CIFAR-100's pickle")
        data.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, CIFAR_SIZE, CIFAR_SIZE))
        labels.append(np.asarray(d["fine_labels"], dtype=np.int64))
    pooled, pooled_labels = np.concatenate(data), np.concatenate(labels)
    parts = ("train", "val") if subset == "trainval" else (subset,)
    names = [n for p in parts for n in _split_names(root, p)]
    unknown = [n for n in names if n not in label_names]
    if unknown:
        raise ValueError(f"CIFAR-FS {subset} names classes not in CIFAR-100: {', '.join(unknown)}")
    rows = [np.flatnonzero(pooled_labels == label_names.index(n)) for n in names]
    empty = [n for n, r in zip(names, rows, strict=True) if len(r) == 0]
    if empty:
        raise ValueError(f"{source}: no images of class(es) {', '.join(empty)}")
    offsets, counts = class_layout([len(r) for r in rows])
    return InMemoryDataset(
        name="cifar-fs",
        split=CIFAR_SPLIT,
        subset=subset,
        root=root,
        names=tuple(names),
        offsets=offsets,
        counts=counts,
        preprocess=preprocess,
        images=_decode(pooled[np.concatenate(rows)], preprocess),
    )
