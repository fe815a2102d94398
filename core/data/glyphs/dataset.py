"""The ``glyphs`` dataset read from its cache: a subset's characters drawn in its designs' faces
(the splits: see ``core.data.glyphs``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.data.base import InMemoryDataset, class_layout
from core.data.glyphs.build import PER_DESIGN, cache_path, face_rank
from core.data.glyphs.characters import GLYPHS_SPLIT, char_subset, subset_parts
from core.data.paths import DataNotFoundError
from core.data.spec import PreprocessSpec


@dataclass(eq=False)
class GlyphDataset(InMemoryDataset):
    """Characters drawn in fonts (or KanjiVG strokes): classes are characters, ``families`` the
    font families (or stroke sources) the examples come from; ``fonts``: the faces used."""

    families: tuple[str, ...] = ()
    designs: tuple[str, ...] = ()
    fonts: tuple[dict, ...] = ()
    source: dict = field(default_factory=dict)

    def describe(self) -> dict:
        d = super().describe()
        d.update({
            "families": list(self.families),
            "designs": list(self.designs),
            "fonts": [dict(f) for f in self.fonts],
            "characters": "".join(self.names) if len(self.names) <= 4000 else len(self.names),
            "groups": list(self.groups),
            "source": dict(self.source),
        })  # fmt: skip
        return d


_LOADED: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray, dict]] = {}


def read_cache(root: Path, size: int):
    path = cache_path(root, size)
    key = (str(path), path.stat().st_mtime_ns if path.is_file() else 0)
    if key in _LOADED:
        return _LOADED[key]
    if not path.is_file():
        raise DataNotFoundError(
            f"no glyph cache at {path}; build it with `python -m core.data.glyphs build "
            f"--out {path.parent} --size {size}` (see docs/glyphs.md)"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            got = (z["images"], z["char_idx"], z["face_idx"], json.loads(str(z["manifest"])))
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a readable glyph cache ({exc}); build it again") from None
    _LOADED.clear()
    _LOADED[key] = got
    return got


def select(char_idx: np.ndarray, face_idx: np.ndarray, faces: Sequence[dict],
           allowed: set[int], wanted: Sequence[int], per_design: int = PER_DESIGN,
           min_examples: int = 2) -> tuple[list[int], list[list[int]]]:  # fmt: skip
    """Items of the characters ``wanted`` (indices) drawn by ``allowed`` faces, at most
    ``per_design`` of them from one design (the faces of the family named like the design first,
    then shorter family names: Noto Sans before Noto Sans Armenian), classes with fewer than
    ``min_examples`` left out -> (kept characters, item indices of each)."""
    order = sorted(allowed, key=lambda i: face_rank(faces[i]))
    rank = {f: r for r, f in enumerate(order)}
    by_char: dict[int, list[int]] = {}
    for i, (c, f) in enumerate(zip(char_idx.tolist(), face_idx.tolist(), strict=True)):
        if f in rank:
            by_char.setdefault(c, []).append(i)
    kept, rows = [], []
    for c in wanted:
        items = sorted(by_char.get(c, ()), key=lambda i: rank[int(face_idx[i])])
        seen: dict[str, int] = {}
        row = []
        for i in items:
            d = faces[int(face_idx[i])]["design"]
            if seen.get(d, 0) < per_design:
                seen[d] = seen.get(d, 0) + 1
                row.append(i)
        if len(row) >= min_examples:
            kept.append(c)
            rows.append(row)
    return kept, rows


def load_glyphs(root: Path, subset: str, spec: PreprocessSpec) -> GlyphDataset:
    """The ``subset`` of the glyph cache under ``root`` (see the module docstring)."""
    parts = subset_parts(subset)
    images, char_idx, face_idx, manifest = read_cache(Path(root), spec.size)
    faces = manifest["faces"]
    chars = manifest["chars"]
    design_subset = manifest["design_subsets"]
    allowed = {i for i, f in enumerate(faces) if design_subset.get(f["design"]) in parts}
    wanted = [int(c) for c in np.unique(char_idx) if char_subset(chars[int(c)]) in parts]
    kept, rows = select(char_idx, face_idx, faces, allowed, wanted)
    names = [chars[c] for c in kept]
    groups_of = [manifest["scripts"][c] for c in kept]
    counts = [len(r) for r in rows]
    flat = np.array([i for r in rows for i in r], dtype=np.int64)
    imgs = images[flat]
    if not names:
        raise ValueError(f"glyphs {subset}: no character has two examples in its fonts; build "
                         "the cache from more fonts")  # fmt: skip
    groups = sorted(set(groups_of))
    used = sorted(allowed)
    offsets, counts_t = class_layout(counts)
    return GlyphDataset(
        name="glyphs", split=GLYPHS_SPLIT, subset=subset, root=Path(root), names=tuple(names),
        offsets=offsets, counts=counts_t, preprocess=spec,
        group_ids=torch.tensor([groups.index(g) for g in groups_of]), groups=tuple(groups),
        images=torch.from_numpy(np.ascontiguousarray(imgs)).unsqueeze(1),
        families=tuple(sorted({faces[i]["family"] for i in used})),
        designs=tuple(sorted({faces[i]["design"] for i in used})),
        fonts=tuple({"file": Path(faces[i]["path"]).name, "family": faces[i]["family"],
                     "style": faces[i]["style"]} for i in used),
        source={"cache": str(cache_path(Path(root), spec.size)), "built": manifest["built"],
                "version": manifest["version"], "n_faces": manifest["n_faces"]},
    )  # fmt: skip
