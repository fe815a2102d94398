"""Class splits of Omniglot as banks of image tensors ready for episode sampling.

* ``vinyals``: the Vinyals et al. (2016) split used by Matching/Prototypical Networks and MAML;
  each character rotated by 0/90/180/270 degrees is its own class. It mixes background and
  evaluation alphabets.
* ``lake``: Lake et al.'s protocol: train on the 30 *background* alphabets (rotations as extra
  classes), test on the 20 *evaluation* alphabets (unrotated). ``val`` holds out 5 background
  alphabets (unrotated; on other layouts: the last background alphabet) for model selection;
  ``trainval`` is all 30.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.data.omniglot import DecodeProgress, OmniglotSet, load_omniglot_set
from core.data.paths import OMNIGLOT_SETS, ensure_vinyals_splits
from core.data.spec import PreprocessSpec

SPLITS = ("vinyals", "lake")
SUBSETS = ("train", "val", "trainval", "test")
ROTATIONS = ("rot000", "rot090", "rot180", "rot270")
#: Background alphabets held out as Lake-protocol validation classes.
LAKE_VAL_ALPHABETS = ("Japanese_(katakana)", "Korean", "Latin", "N_Ko", "Tifinagh")


@dataclass(frozen=True)
class ClassBank:
    """Images of a set of Omniglot classes: the ``omniglot`` ``FewShotDataset``.

    ``images``: uint8 tensor ``(n_classes, n_drawers, 1, size, size)``, ink = 255; flat item
    ``c * n_drawers + d`` is drawer ``d`` of class ``c``;
    ``names[i]``: ``"Alphabet/characterNN/rotDDD"``; ``alphabet_ids[i]``: index into ``alphabets``
    (the dataset's ``group_ids``/``groups``);
    ``sources``: the Omniglot sets (background/evaluation) the classes come from;
    ``split``/``subset``: how the bank was made (recorded in checkpoints).
    """

    images: torch.Tensor
    names: tuple[str, ...]
    alphabet_ids: torch.Tensor
    alphabets: tuple[str, ...]
    sources: frozenset[str]
    split: str
    subset: str
    root: Path | None = None

    name = "omniglot"
    in_memory = True

    @property
    def n_classes(self) -> int:
        return self.images.shape[0]

    @functools.cached_property
    def counts(self) -> torch.Tensor:
        """``(n_classes,)`` drawings per class (all equal)."""
        return torch.full((self.n_classes,), self.images.shape[1], dtype=torch.int64)

    @functools.cached_property
    def offsets(self) -> torch.Tensor:
        """``(n_classes,)`` flat index of each class's first drawing."""
        return torch.arange(self.n_classes, dtype=torch.int64) * self.images.shape[1]

    @property
    def group_ids(self) -> torch.Tensor:
        return self.alphabet_ids

    @property
    def groups(self) -> tuple[str, ...]:
        return self.alphabets

    @functools.cached_property
    def preprocess(self) -> PreprocessSpec:
        return PreprocessSpec("ink", self.images.shape[-1])

    def items(self, index: torch.Tensor) -> torch.Tensor:
        """uint8 ``(len(index), 1, S, S)`` of flat item indices."""
        return self.images.reshape(-1, *self.images.shape[2:])[index]

    def describe(self) -> dict:
        """What a checkpoint records about its data."""
        return {
            "name": self.name,
            "split": self.split,
            "subset": self.subset,
            "root": None if self.root is None else str(self.root),
            "n_classes": self.n_classes,
            "n_items": int(self.images.shape[0] * self.images.shape[1]),
            "preprocess": self.preprocess.to_dict(),
        }

    @property
    def characters(self) -> frozenset[str]:
        """The distinct ``"Alphabet/characterNN"`` behind the classes (rotations merged)."""
        return frozenset(n.rsplit("/", 1)[0] for n in self.names)


def _rotate(images: np.ndarray, rotation: str) -> np.ndarray:
    """Rotate ``(..., H, W)`` images counter-clockwise by ``rotDDD`` degrees."""
    return np.rot90(images, k=ROTATIONS.index(rotation), axes=(-2, -1))


def _bank(entries: list[tuple[OmniglotSet, int, str]], split: str, subset: str) -> ClassBank:
    if not entries:
        raise ValueError(f"split {split}/{subset} holds no classes")
    images = np.stack([_rotate(s.images[row], rot) for s, row, rot in entries])
    names = tuple(f"{s.characters[row]}/{rot}" for s, row, rot in entries)
    alphabets = sorted({n.split("/")[0] for n in names})
    alphabet_ids = torch.tensor([alphabets.index(n.split("/")[0]) for n in names])
    return ClassBank(
        images=torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(2),
        names=names,
        alphabet_ids=alphabet_ids,
        alphabets=tuple(alphabets),
        sources=frozenset(s.name for s, _, _ in entries),
        split=split,
        subset=subset,
    )


def load_split(
    root: Path,
    split: str = "vinyals",
    subset: str = "train",
    size: int = 28,
    progress: DecodeProgress | None = None,
) -> ClassBank:
    """Build the class bank of ``split``/``subset`` from the data under ``root``.

    ``progress(which, done, total)`` reports every image decoded, per Omniglot set (a set read
    from the cache reports nothing); see ``load_omniglot_set``.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    build = _vinyals if split == "vinyals" else _lake
    bank = build(root, subset, size, progress)
    return dataclasses.replace(bank, root=Path(root))


def _vinyals(root: Path, subset: str, size: int, progress: DecodeProgress | None) -> ClassBank:
    lines = (ensure_vinyals_splits(root) / f"{subset}.txt").read_text().split()
    sets = {
        which: load_omniglot_set(root, which, size, progress=progress) for which in OMNIGLOT_SETS
    }
    rows = {name: (s, i) for s in sets.values() for i, name in enumerate(s.characters)}
    entries = []
    for line in lines:
        alphabet, character, rot = line.strip().split("/")
        if f"{alphabet}/{character}" not in rows or rot not in ROTATIONS:
            raise ValueError(f"Vinyals split {subset}.txt names unknown class {line!r}")
        s, row = rows[f"{alphabet}/{character}"]
        entries.append((s, row, rot))
    return _bank(entries, "vinyals", subset)


def _lake(root: Path, subset: str, size: int, progress: DecodeProgress | None) -> ClassBank:
    if subset == "test":
        s = load_omniglot_set(root, "evaluation", size, progress=progress)
        return _bank([(s, i, "rot000") for i in range(len(s.characters))], "lake", subset)
    s = load_omniglot_set(root, "background", size, progress=progress)
    val_alphabets = set(LAKE_VAL_ALPHABETS) & set(s.alphabets)
    if not val_alphabets:  # a layout other than the official one: hold out its last alphabet
        val_alphabets = {max(s.alphabets)}
    held_out = [a in val_alphabets for a in s.alphabets]
    if subset == "val":
        rows = [i for i, h in enumerate(held_out) if h]
        return _bank([(s, i, "rot000") for i in rows], "lake", subset)
    rows = [i for i, h in enumerate(held_out) if subset == "trainval" or not h]
    return _bank([(s, i, rot) for i in rows for rot in ROTATIONS], "lake", subset)
