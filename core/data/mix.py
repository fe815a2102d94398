"""Several datasets served as one: the ``drawings`` dataset (Omniglot's Lake split + glyphs +
KanjiVG), the generalist's training data.

``load_mix(members, root, subset, spec)`` loads the same ``subset`` of every member (``(name,
split)`` pairs of registered datasets, under one data root and one preprocessing) and joins
their classes. Classes of the same name are one class: a kanji drawn in fonts (``glyphs``) and
from KanjiVG's strokes is one character with the examples of both (both datasets hold a
character out of the same subset, ``core.data.glyphs.char_subset``). Groups keep their member's
name (``omniglot/Korean``, ``glyphs/Latin``, ``kanjivg/CJK``).

Episodes draw classes by ``class_weights`` (``core.data.episodes.sample_plan``): every member
has the same share of the draws, and within a member each group a share that grows with the
square root of its class count (a class belongs to the member that lists it first). Uniform draws
would make nearly every class a kanji (KanjiVG and the CJK fonts hold ~5,000 training classes,
Latin and digits ~50); balanced, a 20-way episode holds about seven Omniglot characters, seven
glyphs (one or two of them Latin letters, digits or symbols) and six KanjiVG characters.
Within-alphabet episodes draw a group uniformly, as for any dataset.
``describe()`` records every member's own description (its fonts, families, split), and
``characters`` is the union of the members' characters, so ``core.evaluate`` refuses to score a
mix checkpoint on any member's classes it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.data.base import FewShotDataset, InMemoryDataset, class_layout
from core.data.spec import PreprocessSpec

#: The mixes the registry serves: name -> its members ``(dataset, split)``.
MIXES: dict[str, tuple[tuple[str, str | None], ...]] = {
    "drawings": (("omniglot", "lake"), ("glyphs", None), ("kanjivg", None)),
}
#: The one split of a mix: each member's own (Omniglot's Lake split; glyphs and KanjiVG
#: disjoint characters and fonts), recorded per member in ``describe()["members"]``.
MIX_SPLIT = "lake"


@dataclass(eq=False)
class MixDataset(InMemoryDataset):
    """Classes of several datasets joined (see the module docstring); ``members``: their
    ``describe()``; ``member_characters``: the characters of each."""

    members: tuple[dict, ...] = ()
    member_characters: frozenset[str] = frozenset()
    families: tuple[str, ...] = ()
    class_members: tuple[tuple[str, ...], ...] = field(default=(), repr=False)
    #: Float ``(n_classes,)``: how often episodes draw each class (see the module docstring).
    class_weights: torch.Tensor | None = field(default=None, repr=False)

    @property
    def characters(self) -> frozenset[str]:
        return self.member_characters

    def describe(self) -> dict:
        d = super().describe()
        d["members"] = [dict(m) for m in self.members]
        d["sampling"] = "members equal, groups by sqrt(classes)"
        d["families"] = list(self.families)
        return d


def join(datasets: Sequence[FewShotDataset], name: str, split: str, subset: str,
         root: Path, spec: PreprocessSpec) -> MixDataset:  # fmt: skip
    """One dataset of the classes of ``datasets`` (same-named classes merged)."""
    order: dict[str, list[torch.Tensor]] = {}
    group_of: dict[str, str] = {}
    owners: dict[str, list[str]] = {}
    for ds in datasets:
        for c, cname in enumerate(ds.names):
            start, count = int(ds.offsets[c]), int(ds.counts[c])
            order.setdefault(cname, []).append(ds.items(torch.arange(start, start + count)))
            owners.setdefault(cname, []).append(ds.name)
            if cname not in group_of:
                g = ds.groups[int(ds.group_ids[c])] if ds.group_ids is not None else "all"
                group_of[cname] = f"{ds.name}/{g}"
    names = list(order)
    chunks = [torch.cat(order[n]) for n in names]
    groups = sorted(set(group_of.values()))
    offsets, counts = class_layout([len(x) for x in chunks])
    families = sorted({f for ds in datasets for f in getattr(ds, "families", ())})
    group_ids = torch.tensor([groups.index(group_of[n]) for n in names], dtype=torch.int64)
    return MixDataset(
        name=name, split=split, subset=subset, root=Path(root), names=tuple(names),
        offsets=offsets, counts=counts, preprocess=spec,
        group_ids=group_ids, groups=tuple(groups),
        images=torch.cat(chunks) if chunks else torch.empty(0),
        members=tuple(ds.describe() for ds in datasets),
        member_characters=frozenset().union(*(ds.characters for ds in datasets)),
        families=tuple(families), class_members=tuple(tuple(owners[n]) for n in names),
        class_weights=balanced_weights(group_ids, groups) if names else None,
    )  # fmt: skip


def balanced_weights(group_ids: torch.Tensor, groups: Sequence[str]) -> torch.Tensor:
    """Per-class draw weights: members (the part of a group name before ``/``) equal, a
    member's groups by the square root of their class counts, a group's classes equal."""
    sizes = torch.bincount(group_ids, minlength=len(groups)).double()
    member_of = [g.split("/", 1)[0] for g in groups]
    members = sorted(set(member_of))
    share = sizes.sqrt()
    for m in members:
        idx = torch.tensor([i for i, x in enumerate(member_of) if x == m])
        share[idx] = share[idx] / share[idx].sum() / len(members)
    w = share[group_ids] / sizes[group_ids]
    return (w / w.sum()).float()


def load_mix(mix: str, root: Path, subset: str, spec: PreprocessSpec) -> MixDataset:
    """The ``subset`` of every member of mix ``mix`` under ``root``, joined."""
    from core.data.datasets import load_dataset

    if mix not in MIXES:
        raise ValueError(f"unknown mix {mix!r}; choose one of {', '.join(MIXES)}")
    parts = [load_dataset(n, root, subset, spec, split=s) for n, s in MIXES[mix]]
    return join(parts, mix, MIX_SPLIT, subset, root, spec)
