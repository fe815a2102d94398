"""Building the glyph cache: rendering every chosen face's characters, dropping placeholders,
merging look-alike characters and writing ``<data root>/glyphs/glyphs-<size>.npz`` + manifest."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from core.data.glyphs.characters import inventory
from core.data.glyphs.fonts import (
    Face,
    FontError,
    assign_designs,
    choose_faces,
    find_font_files,
    read_faces,
)
from core.data.glyphs.render import RENDER_PX, render_glyph, seed_of
from core.data.preprocess import DEFAULT_SIZE

CACHE_VERSION = 1
#: Characters whose silhouettes differ by less than this (soft Jaccard distance) in most of the
#: faces drawing both are one class (Latin A, Greek Alpha, Cyrillic A).
LOOKALIKE = 0.15
#: At most this many examples of a character from one design (Noto Sans and its script
#: siblings share their Latin letters and digits: 4 of them, not 150 copies).
PER_DESIGN = 4


# ---- look-alike characters ----------------------------------------------------------------------


def find_lookalikes(sig: np.ndarray, char_idx: np.ndarray, face_idx: np.ndarray,
                    chars: Sequence[str], scripts: Sequence[str],
                    threshold: float = LOOKALIKE) -> dict[int, int]:  # fmt: skip
    """Character index -> the index of the character it merges into (the first of a look-alike
    group) when their filled silhouettes differ by less than ``threshold`` (soft Jaccard
    distance: differing ink over the ink of either) in most of the faces drawing both (a
    majority, not the mean: CJK and handwriting fonts draw Greek Kappa unlike their own K, and
    a mean of 0.17 kept Kappa apart from the K it is in DejaVu and Liberation).
    Compares every non-CJK character and the 10 % CJK characters with the least ink (the ones
    a kana, a dash or a box resembles)."""
    n = len(chars)
    is_cjk = np.array([s == "CJK" for s in scripts])
    ink = np.zeros(n)
    cnt = np.zeros(n)
    np.add.at(ink, char_idx, sig.reshape(len(sig), -1).mean(1))
    np.add.at(cnt, char_idx, 1)
    ink = ink / np.maximum(cnt, 1)
    cjk = np.flatnonzero(is_cjk & (cnt > 0))
    light = cjk[np.argsort(ink[cjk])[: max(1, len(cjk) // 10)]] if len(cjk) else cjk
    cand = np.concatenate([np.flatnonzero(~is_cjk & (cnt > 0)), light])
    pos = np.full(n, -1)
    pos[cand] = np.arange(len(cand))
    alike = torch.zeros(len(cand), len(cand), dtype=torch.float64)
    count = torch.zeros(len(cand), len(cand), dtype=torch.float64)
    for f in np.unique(face_idx):
        rows = np.flatnonzero((face_idx == f) & (pos[char_idx] >= 0))
        if len(rows) < 2:
            continue
        x = torch.from_numpy(sig[rows].reshape(len(rows), -1).astype(np.float64) / 255.0)
        diff = torch.cdist(x, x, p=1)
        mass = x.sum(1)
        union = (mass[:, None] + mass[None, :] + diff) / 2  # sum of max(a, b)
        d = diff / union.clamp(min=1e-6)  # soft Jaccard distance: 0 same, 1 disjoint
        p = torch.from_numpy(pos[char_idx[rows]])
        alike[p[:, None], p[None, :]] += (d < threshold).double()
        count[p[:, None], p[None, :]] += 1
    close = (alike > 0.5 * count) & (count >= 2)
    close.fill_diagonal_(False)
    parent = list(range(len(cand)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in torch.nonzero(close).tolist():
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {int(cand[i]): int(cand[root(i)]) for i in range(len(cand)) if root(i) != i}


# ---- the cache ----------------------------------------------------------------------------------


def cache_path(root: Path, size: int) -> Path:
    return Path(root) / "glyphs" / f"glyphs-{size}.npz"


def face_rank(face: Face | dict) -> tuple:
    """The order in which a design's faces give examples (``select``): the face of the family
    named like the design first, then shorter family names (Noto Sans before Noto Sans
    Armenian), upright before italic."""
    f = face.to_dict() if isinstance(face, Face) else face
    return (f["family"] != f["design"], len(f["family"]), f["family"], f["italic"])


def plan_work(faces: Sequence[Face], chars: Sequence[str],
              per_design: int = PER_DESIGN) -> list[tuple[int, int]]:  # fmt: skip
    """``(face, character)`` index pairs to render: every character a face maps, at most
    ``per_design`` faces of one design per character (in ``face_rank`` order: the ones
    ``select`` keeps; Ume's 22 faces or Noto Sans's 150 script siblings are not all drawn)."""
    taken: dict[tuple[str, int], int] = {}
    work = []
    for fi in sorted(range(len(faces)), key=lambda i: face_rank(faces[i])):
        f = faces[fi]
        for ci, c in enumerate(chars):
            if ord(c) in f.cmap and taken.get((f.design, ci), 0) < per_design:
                taken[(f.design, ci)] = taken.get((f.design, ci), 0) + 1
                work.append((fi, ci))
    return sorted(work)


def build_glyphs(font_dirs: Sequence[Path], out: Path, size: int = DEFAULT_SIZE,
                 per_family: int = 2, progress: bool = True) -> dict:  # fmt: skip
    """Render every chosen face's characters into ``out/glyphs-<size>.npz`` (+ manifest.json).

    Returns the manifest. Raises FontError (one line) for an empty folder or unreadable files
    when none is usable; an unreadable file among good ones is skipped with a warning.
    """
    from PIL import ImageFont
    from tqdm import tqdm

    start = time.time()
    files = find_font_files(font_dirs)
    faces, bad = [], []
    for path in files:
        try:
            faces += read_faces(path)
        except FontError as exc:
            bad.append(str(exc))
            warnings.warn(f"skipping {exc}", RuntimeWarning, stacklevel=2)
    faces = choose_faces(faces, per_family)
    if not faces:
        raise FontError(f"no usable font face in {', '.join(map(str, font_dirs))}"
                        + (f" ({bad[0]})" if bad else ""))  # fmt: skip
    scripts_chars = inventory()
    chars = [c for v in scripts_chars.values() for c in v]
    scripts = [s for s, v in scripts_chars.items() for _ in v]
    work = plan_work(faces, chars)
    if not work:
        raise FontError(f"none of the fonts in {', '.join(map(str, font_dirs))} has any of the "
                        "characters glyphs draws (Latin, Greek, Cyrillic, digits, symbols, kana, "
                        "kanji)")  # fmt: skip
    images = np.zeros((len(work), size, size), dtype=np.uint8)
    sigs = np.zeros((len(work), 16, 16), dtype=np.uint8)
    keep = np.zeros(len(work), dtype=bool)
    fonts: dict[int, object] = {}
    bar = tqdm(total=len(work), desc="glyphs", unit="glyph", disable=not progress)
    for k, (fi, ci) in enumerate(work):
        f = faces[fi]
        if fi not in fonts:
            fonts.clear()
            try:
                fonts[fi] = ImageFont.truetype(f.path, RENDER_PX, index=f.index)
            except OSError as exc:
                bad.append(f"{f.path}: {exc}")
                fonts[fi] = None
        font = fonts[fi]
        bar.update(1)
        if font is None:
            continue
        try:
            r = render_glyph(font, chars[ci], seed_of(f.key, chars[ci]), size)
        except (OSError, ValueError):
            r = None
        if r is not None:
            images[k], sigs[k] = r
            keep[k] = True
    bar.close()
    face_idx = np.array([w[0] for w in work], dtype=np.int32)[keep]
    char_idx = np.array([w[1] for w in work], dtype=np.int32)[keep]
    images, sigs = images[keep], sigs[keep]
    # placeholders: one silhouette drawn for many characters of a face (a .notdef box)
    drop = np.zeros(len(images), dtype=bool)
    for fi in np.unique(face_idx):
        rows = np.flatnonzero(face_idx == fi)
        _, inv, counts = np.unique(sigs[rows].reshape(len(rows), -1), axis=0,
                                   return_inverse=True, return_counts=True)  # fmt: skip
        drop[rows[counts[inv.ravel()] > 8]] = True
    images, sigs, face_idx, char_idx = (a[~drop] for a in (images, sigs, face_idx, char_idx))
    merged = find_lookalikes(sigs, char_idx, face_idx, chars, scripts)
    dropped_chars = sorted({chars[i] for i in merged})
    keep = np.array([int(c) not in merged for c in char_idx], dtype=bool)
    images, face_idx, char_idx = images[keep], face_idx[keep], char_idx[keep]
    subsets = assign_designs(faces, scripts_chars)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "version": CACHE_VERSION,
        "size": size,
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
        "build_seconds": round(time.time() - start, 1),
        "font_dirs": [str(d) for d in font_dirs],
        "faces": [f.to_dict() for f in faces],
        "design_subsets": subsets,
        "chars": chars,
        "scripts": scripts,
        "merged_lookalikes": {chars[i]: chars[j] for i, j in sorted(merged.items())},
        "unreadable": bad,
        "n_items": len(images),
        "n_characters": len(set(char_idx.tolist())),
        "n_faces": len(faces),
        "n_designs": len(subsets),
    }
    tmp = out / f".glyphs-{size}.tmp.npz"
    np.savez_compressed(tmp, images=images, char_idx=char_idx, face_idx=face_idx,
                        manifest=np.array(json.dumps(manifest)))  # fmt: skip
    os.replace(tmp, out / f"glyphs-{size}.npz")
    (out / "manifest.json").write_text(json.dumps({**manifest, "dropped": dropped_chars},
                                                  ensure_ascii=False, indent=1))  # fmt: skip
    return manifest
