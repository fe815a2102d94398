"""The dataset protocol every few-shot dataset serves, and its two generic implementations.

A dataset is a labelled image collection with classes of uneven size, stored flat: class ``c`` is
items ``offsets[c] .. offsets[c] + counts[c] - 1``. ``items(index)`` returns them decoded as uint8
``(len, C, S, S)`` in the dataset's ``preprocess`` spec; ``spec.normalize`` makes model inputs.

* ``InMemoryDataset``: every item already decoded (Omniglot, CIFAR-FS); ``items`` is an index.
* ``FileDataset``: image files decoded on demand (MiniImageNet, a folder); a file that turns out
  unreadable is replaced by the next readable image of its class, with a warning naming it.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from core.data.preprocess import ImageError, load_image
from core.data.spec import PreprocessSpec

#: File name suffixes read as images (case-insensitive); other files are ignored.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)


@runtime_checkable
class FewShotDataset(Protocol):
    """A labelled image collection served to the episode sampler (see docs/parts.md)."""

    name: str
    split: str
    subset: str
    names: tuple[str, ...]
    offsets: torch.Tensor
    counts: torch.Tensor
    group_ids: torch.Tensor | None
    groups: tuple[str, ...]
    preprocess: PreprocessSpec
    in_memory: bool

    @property
    def n_classes(self) -> int: ...

    @property
    def characters(self) -> frozenset[str]: ...

    def items(self, index: torch.Tensor) -> torch.Tensor: ...

    def describe(self) -> dict: ...


def is_image_file(path: Path) -> bool:
    """An image by its suffix, not hidden (``.DS_Store``, ``._x.jpg`` and the like)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def class_layout(counts: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(offsets, counts)`` int64 tensors ``(n_classes,)`` of classes stored one after another."""
    c = torch.tensor(list(counts), dtype=torch.int64)
    return torch.cumsum(c, 0) - c, c


@dataclass(eq=False)
class _Classes:
    """Fields and helpers shared by both implementations."""

    name: str
    split: str
    subset: str
    root: Path
    names: tuple[str, ...]
    offsets: torch.Tensor
    counts: torch.Tensor
    preprocess: PreprocessSpec
    group_ids: torch.Tensor | None = None
    groups: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int:
        return len(self.names)

    @property
    def characters(self) -> frozenset[str]:
        """What "trained on" means for overlap checks: the class names."""
        return frozenset(self.names)

    def class_of(self, index: torch.Tensor) -> torch.Tensor:
        """Class of each flat item index ``(n,)`` -> ``(n,)``."""
        return torch.searchsorted(self.offsets, index, right=True) - 1

    def describe(self) -> dict:
        """What a checkpoint records about its data."""
        return {
            "name": self.name,
            "split": self.split,
            "subset": self.subset,
            "root": str(self.root),
            "n_classes": self.n_classes,
            "n_items": int(self.counts.sum()),
            "preprocess": self.preprocess.to_dict(),
        }


@dataclass(eq=False)
class InMemoryDataset(_Classes):
    """Decoded items ``images``: uint8 ``(n_items, C, S, S)``."""

    images: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.uint8))
    in_memory: bool = True

    def items(self, index: torch.Tensor) -> torch.Tensor:
        """uint8 ``(len(index), C, S, S)``."""
        return self.images[index]


@dataclass(eq=False)
class FileDataset(_Classes):
    """Items are image files ``paths`` (flat, class by class), decoded when asked for."""

    paths: tuple[Path, ...] = ()
    in_memory: bool = False
    #: Flat indices found unreadable in this process (each warned about once).
    bad: set[int] = field(default_factory=set)

    def _decode(self, i: int) -> torch.Tensor | None:
        if i in self.bad:
            return None
        try:
            return self.preprocess.decode(load_image(self.paths[i]))
        except ImageError as exc:
            self.bad.add(i)
            warnings.warn(
                f"skipping {exc}; another image of its class is used instead",
                RuntimeWarning,
                stacklevel=3,
            )
            return None

    def item(self, i: int) -> torch.Tensor:
        """Item ``i`` uint8 ``(C, S, S)``; an unreadable file gives the next readable image of
        its class (cyclically), so the replacement is the same in every process."""
        c = int(self.class_of(torch.tensor([i]))[0])
        start, count = int(self.offsets[c]), int(self.counts[c])
        for k in range(count):
            j = start + (i - start + k) % count
            x = self._decode(j)
            if x is not None:
                return x
        raise ImageError(f"class {self.names[c]!r}: none of its {count} images is readable")

    def items(self, index: torch.Tensor) -> torch.Tensor:
        """uint8 ``(len(index), C, S, S)``, decoded now."""
        s = self.preprocess.size
        if len(index) == 0:
            return torch.empty(0, self.preprocess.channels, s, s, dtype=torch.uint8)
        return torch.stack([self.item(int(i)) for i in index])


def subset_union(parts: Sequence[_Classes], subset: str) -> dict:
    """Constructor fields of the dataset joining ``parts`` (``trainval`` = train + val)."""
    names = tuple(n for p in parts for n in p.names)
    if len(set(names)) != len(names):
        raise ValueError(f"{parts[0].name}: a class appears in two of the joined subsets")
    offsets, counts = class_layout([int(c) for p in parts for c in p.counts])
    return {
        "name": parts[0].name,
        "split": parts[0].split,
        "subset": subset,
        "root": parts[0].root,
        "names": names,
        "offsets": offsets,
        "counts": counts,
        "preprocess": parts[0].preprocess,
    }


def require_root(path: Path, how: str) -> Path:
    """``path`` if it is a folder, else DataNotFoundError naming it and saying ``how`` to fix."""
    from core.data.paths import DataNotFoundError

    if not Path(path).is_dir():
        raise DataNotFoundError(f"{path}: no such folder; {how}")
    return Path(path)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (other files ignored)."""
    with os.scandir(folder) as it:
        return sorted(
            (Path(e.path) for e in it if e.is_file() and is_image_file(Path(e.name))),
            key=lambda p: p.name,
        )


def on_device(ds: FewShotDataset, device: torch.device) -> FewShotDataset:
    """``ds`` with its decoded items moved to ``device`` once (CUDA), so that episodes are
    assembled there; datasets decoded from files stay (their workers pin memory instead)."""
    if not ds.in_memory or device.type == "cpu" or ds.images.device == device:
        return ds
    return dataclasses.replace(ds, images=ds.images.to(device))


def only_groups(ds: FewShotDataset, wanted: Sequence[str]) -> FewShotDataset:
    """The classes of ``ds`` in groups ``wanted`` (Omniglot alphabets, glyph scripts: ``Latin``,
    ``Digits``), as a dataset of the same kind (in-memory datasets only). ValueError names the
    groups there are."""
    if ds.group_ids is None or not ds.groups:
        raise ValueError(f"{ds.name} has no groups to choose from")
    unknown = [g for g in wanted if g not in ds.groups]
    if unknown:
        raise ValueError(f"{ds.name} {ds.subset} has no group {unknown[0]!r}; it has "
                         f"{', '.join(ds.groups)}")  # fmt: skip
    if not isinstance(ds, InMemoryDataset):
        raise ValueError(f"choosing groups needs an in-memory dataset; {ds.name} is not")
    keep = [c for c in range(ds.n_classes) if ds.groups[int(ds.group_ids[c])] in wanted]
    groups = tuple(g for g in ds.groups if g in wanted)
    index = torch.cat([torch.arange(int(ds.offsets[c]), int(ds.offsets[c] + ds.counts[c]))
                       for c in keep])  # fmt: skip
    offsets, counts = class_layout([int(ds.counts[c]) for c in keep])
    changes: dict = {
        "names": tuple(ds.names[c] for c in keep),
        "offsets": offsets,
        "counts": counts,
        "group_ids": torch.tensor([groups.index(ds.groups[int(ds.group_ids[c])]) for c in keep]),
        "groups": groups,
        "images": ds.images[index],
    }
    weights = getattr(ds, "class_weights", None)
    if weights is not None:
        w = weights[keep]
        changes["class_weights"] = w / w.sum()
    if getattr(ds, "class_members", None):
        changes["class_members"] = tuple(ds.class_members[c] for c in keep)
    return dataclasses.replace(ds, **changes)

