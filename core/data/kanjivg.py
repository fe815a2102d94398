"""``kanjivg``: KanjiVG's stroke-order SVGs drawn as the canvas draws a person's strokes.

KanjiVG (https://kanjivg.tagaini.net, Ulrich Apel and contributors, CC BY-SA 3.0) gives every
kanji and kana as its ordered pen strokes (SVG paths in a 109 x 109 box). Installed from PyPI
(``pip install kanjivg``: a top-level ``kanji/`` folder of ``<hex code>[-<variant>].svg``) or put
as ``<data root>/kanjivg/kanji/``. Classes are the characters (CJK ideographs and kana); each is
drawn by ``drawers`` (default 20) seeded "drawers": every stroke is moved, turned and scaled a
little on its own (stroke-level jitter), the whole character gets a slight affine hand and a
pen width of the canvas's 5 px of 105 (+-25 %), rasterised by ``rasterize_strokes`` and
preprocessed like a canvas drawing. A character's ``Kaisho`` (regular-script) variant, when
KanjiVG has one, draws every other drawer.

Split ``disjoint`` by character with ``core.data.glyphs.char_subset`` (70/15/15 by SHA-1), the
same function as ``glyphs``: a kanji held out of one is held out of the other. The cache,
``<data root>/kanjivg/kanjivg-<size>.npz``, is built by ``python -m core.data.glyphs build``.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path

import numpy as np
import torch

from core.data.base import class_layout
from core.data.glyphs import (
    CACHE_VERSION,
    DRAWN_SIDE,
    GLYPHS_SPLIT,
    PEN_WIDTH,
    GlyphDataset,
    char_subset,
    script_of,
    seed_of,
    subset_parts,
    to_uint8,
)
from core.data.paths import DataNotFoundError
from core.data.preprocess import CANVAS_SIZE, preprocess_image, rasterize_strokes
from core.data.spec import PreprocessSpec

KANJIVG_SCRIPTS = ("CJK", "Hiragana", "Katakana")
_TOKEN = re.compile(r"[MmCcSsLlHhVvZzQqTt]|-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_PATH = re.compile(r'<path[^>]*\sd="([^"]+)"')


def svg_folder(root: Path, given: Path | None = None) -> Path | None:
    """KanjiVG's ``kanji/`` folder: ``given`` (the folder itself or one holding ``kanji/``, as
    ``pip install --target DIR kanjivg`` lays it out), else ``root/kanjivg/kanji``, else the
    installed PyPI package's."""
    if given is not None:
        given = Path(given).expanduser()
        for folder in (given, given / "kanji"):
            if folder.is_dir() and any(re.fullmatch(r"[0-9a-f]{5}\.svg", n)
                                       for n in os.listdir(folder)):  # fmt: skip
                return folder
        return None
    local = Path(root) / "kanjivg" / "kanji"
    if local.is_dir():
        return local
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        dist = distribution("kanjivg")
    except (ImportError, PackageNotFoundError):
        return None
    for f in dist.files or ():
        if f.parts[0] == "kanji" and f.name.endswith(".svg"):
            folder = Path(dist.locate_file(f)).parent
            return folder if folder.is_dir() else None
    return None


def parse_path(d: str, samples: int = 8) -> list[tuple[float, float]]:
    """Points along an SVG path (M, L, H, V, C, S, Q, T, Z; absolute and relative), cubic and
    quadratic curves sampled ``samples`` times each."""
    tokens = _TOKEN.findall(d)
    pts: list[tuple[float, float]] = []
    x = y = sx = sy = 0.0
    last_ctrl = None
    cmd = None
    i = 0

    def num() -> float:
        nonlocal i
        v = float(tokens[i])
        i += 1
        return v

    def cubic(p0, p1, p2, p3):
        for k in range(1, samples + 1):
            t = k / samples
            a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
            pts.append((a * p0[0] + b * p1[0] + c * p2[0] + e * p3[0],
                        a * p0[1] + b * p1[1] + c * p2[1] + e * p3[1]))  # fmt: skip

    while i < len(tokens):
        if tokens[i].isalpha():
            cmd = tokens[i]
            i += 1
            if cmd in "Zz":
                x, y = sx, sy
                pts.append((x, y))
                continue
        if cmd is None:
            raise ValueError(f"SVG path without a command: {d[:40]!r}")
        rel = cmd.islower()
        ox, oy = (x, y) if rel else (0.0, 0.0)
        c = cmd.upper()
        if c == "M":
            x, y = ox + num(), oy + num()
            sx, sy = x, y
            pts.append((x, y))
            cmd = "l" if rel else "L"  # further pairs are line-tos
            last_ctrl = None
        elif c == "L":
            x, y = ox + num(), oy + num()
            pts.append((x, y))
            last_ctrl = None
        elif c == "H":
            x = ox + num()
            pts.append((x, y))
        elif c == "V":
            y = oy + num()
            pts.append((x, y))
        elif c in "CS":
            if c == "C":
                c1 = (ox + num(), oy + num())
            else:
                c1 = (2 * x - last_ctrl[0], 2 * y - last_ctrl[1]) if last_ctrl else (x, y)
            c2 = (ox + num(), oy + num())
            end = (ox + num(), oy + num())
            cubic((x, y), c1, c2, end)
            last_ctrl = c2
            x, y = end
        elif c in "QT":
            q = (ox + num(), oy + num()) if c == "Q" else (x, y)
            end = (ox + num(), oy + num())
            cubic((x, y), ((x + 2 * q[0]) / 3, (y + 2 * q[1]) / 3),
                  ((end[0] + 2 * q[0]) / 3, (end[1] + 2 * q[1]) / 3), end)  # fmt: skip
            x, y = end
            last_ctrl = None
        else:
            raise ValueError(f"unsupported SVG path command {cmd!r}")
    return pts


def read_strokes(path: Path) -> list[np.ndarray]:
    """The ordered strokes of one KanjiVG file, each ``(n, 2)`` in the 109-unit box."""
    text = Path(path).read_text(encoding="utf-8")
    text = text.split('id="kvg:StrokeNumbers', 1)[0]
    return [np.array(parse_path(d), dtype=np.float64) for d in _PATH.findall(text)]


def jitter_strokes(strokes: list[np.ndarray], rng: np.random.Generator,
                   amount: float = 1.0) -> list[np.ndarray]:  # fmt: skip
    """Stroke-level jitter (each stroke shifted, turned and scaled about its centre), a slight
    hand on the whole (rotation, shear, aspect), scaled to ``DRAWN_SIDE`` canvas pixels and
    centred on the 105 px canvas."""
    a = amount
    out = []
    for s in strokes:
        c = s.mean(0)
        ang = math.radians(rng.normal(0, 3.0) * a)
        sc = 1 + rng.normal(0, 0.05) * a
        rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]]) * sc
        shift = rng.normal(0, 1.3, size=2) * a
        t = np.linspace(0, 1, len(s))[:, None]  # a slight bend along the stroke
        bend = np.sin(math.pi * t) * rng.normal(0, 0.8, size=2) * a
        out.append((s - c) @ rot.T + c + shift + bend)
    allp = np.concatenate(out)
    lo, hi = allp.min(0), allp.max(0)
    centre, side = (lo + hi) / 2, max(float((hi - lo).max()), 1.0)
    ang = math.radians(rng.uniform(-3, 3) * a)
    shear = rng.uniform(-0.06, 0.06) * a
    sx, sy = 1 + rng.uniform(-0.06, 0.06) * a, 1 + rng.uniform(-0.06, 0.06) * a
    m = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    m = m @ np.array([[sx, shear], [0, sy]])
    out = [((s - centre) / side) @ m.T for s in out]
    allp = np.concatenate(out)
    lo, hi = allp.min(0), allp.max(0)
    mid, side = (lo + hi) / 2, max(float((hi - lo).max()), 1e-6)
    return [(s - mid) / side * DRAWN_SIDE + CANVAS_SIZE / 2 for s in out]


def draw_kanji(strokes: list[np.ndarray], seed: int, size: int, amount: float = 1.0):
    """A seeded drawing of ``strokes`` as the canvas rasterises a person's: uint8 (size, size)."""
    rng = np.random.default_rng(seed)
    width = PEN_WIDTH * rng.uniform(0.8, 1.25) ** amount
    pts = [[(float(x), float(y)) for x, y in s] for s in jitter_strokes(strokes, rng, amount)]
    return to_uint8(preprocess_image(rasterize_strokes(pts, width, CANVAS_SIZE), size))


def characters(folder: Path) -> dict[str, list[Path]]:
    """Character -> its SVG files (the plain form first, then a Kaisho form if any), for the
    CJK ideographs and kana KanjiVG draws."""
    found: dict[str, dict[str, Path]] = {}
    for name in os.listdir(folder):
        m = re.fullmatch(r"([0-9a-f]{5})(?:-(\w+))?\.svg", name)
        if not m:
            continue
        c = chr(int(m.group(1), 16))
        if script_of(c) not in KANJIVG_SCRIPTS:
            continue
        found.setdefault(c, {})[m.group(2) or ""] = folder / name
    out = {}
    for c in sorted(found):
        forms = found[c]
        if "" not in forms:
            continue
        out[c] = [forms[""]] + ([forms["Kaisho"]] if "Kaisho" in forms else [])
    return out


def cache_path(root: Path, size: int) -> Path:
    return Path(root) / "kanjivg" / f"kanjivg-{size}.npz"


def build_kanjivg(folder: Path, out: Path, size: int = 28, drawers: int = 20,
                  progress: bool = True) -> dict:  # fmt: skip
    """Draw every character of KanjiVG's ``folder`` ``drawers`` times into
    ``out/kanjivg-<size>.npz``; returns the manifest."""
    from tqdm import tqdm

    if drawers < 2:
        raise ValueError("--drawers must be at least 2")
    start = time.time()
    chars = characters(Path(folder))
    if not chars:
        raise DataNotFoundError(f"{folder}: no KanjiVG SVG files (<hex>.svg) in it")
    names = list(chars)
    images = np.zeros((len(names), drawers, size, size), dtype=np.uint8)
    bad = []
    keep = np.ones(len(names), dtype=bool)
    for ci, c in enumerate(tqdm(names, desc="kanjivg", unit="char", disable=not progress)):
        try:
            forms = [read_strokes(p) for p in chars[c]]
            forms = [f for f in forms if f and all(len(s) for s in f)]
            if not forms:
                raise ValueError("no strokes")
            for d in range(drawers):
                images[ci, d] = draw_kanji(forms[d % len(forms)], seed_of("kanjivg", c, d), size)
        except (OSError, ValueError, IndexError) as exc:
            bad.append(f"{chars[c][0].name}: {exc}")
            keep[ci] = False
    names = [n for n, k in zip(names, keep, strict=True) if k]
    images = images[keep]
    manifest = {
        "version": CACHE_VERSION,
        "size": size,
        "drawers": drawers,
        "source": str(folder),
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
        "build_seconds": round(time.time() - start, 1),
        "chars": names,
        "unreadable": bad,
        "n_items": int(images.shape[0] * images.shape[1]),
        "n_characters": len(names),
        "licence": "KanjiVG (c) Ulrich Apel and contributors, CC BY-SA 3.0",
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".kanjivg-{size}.tmp.npz"
    np.savez_compressed(tmp, images=images, manifest=np.array(json.dumps(manifest)))
    os.replace(tmp, out / f"kanjivg-{size}.npz")
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    return manifest


_LOADED: dict = {}


def load_kanjivg(root: Path, subset: str, spec: PreprocessSpec) -> GlyphDataset:
    """The ``subset`` of the KanjiVG cache under ``root`` (see the module docstring)."""
    parts = subset_parts(subset)
    path = cache_path(Path(root), spec.size)
    if not path.is_file():
        raise DataNotFoundError(
            f"no KanjiVG cache at {path}; pip install kanjivg, then build it with "
            f"`python -m core.data.glyphs build --out {Path(root)} --size {spec.size}`"
        )
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _LOADED:
        try:
            with np.load(path, allow_pickle=False) as z:
                _LOADED.clear()
                _LOADED[key] = (z["images"], json.loads(str(z["manifest"])))
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: not a readable KanjiVG cache ({exc})") from None
    images, manifest = _LOADED[key]
    rows = [i for i, c in enumerate(manifest["chars"]) if char_subset(c) in parts]
    names = [manifest["chars"][i] for i in rows]
    scripts = [script_of(c) for c in names]
    groups = sorted(set(scripts))
    drawers = images.shape[1]
    offsets, counts = class_layout([drawers] * len(rows))
    flat = images[rows].reshape(-1, 1, spec.size, spec.size)
    return GlyphDataset(
        name="kanjivg", split=GLYPHS_SPLIT, subset=subset, root=Path(root), names=tuple(names),
        offsets=offsets, counts=counts, preprocess=spec,
        group_ids=torch.tensor([groups.index(s) for s in scripts], dtype=torch.int64),
        groups=tuple(groups), images=torch.from_numpy(np.ascontiguousarray(flat)),
        families=(), designs=(),  # one source drawn by every subset: no family split
        fonts=({"file": "kanji/*.svg", "family": "KanjiVG", "style": f"{drawers} drawers"},),
        source={"cache": str(path), "built": manifest["built"], "version": manifest["version"],
                "svg": manifest["source"], "licence": manifest["licence"]},
    )  # fmt: skip
