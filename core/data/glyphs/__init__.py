"""``glyphs``: characters rendered from outline fonts so that they look drawn with the canvas pen.

Classes are characters (Latin, Greek, Cyrillic, digits, common symbols, hiragana, katakana and the
2,965 level-1 kanji of JIS X 0208); examples are font families (an upright and an italic face per
family). A glyph is rendered from its outline, thinned to its skeleton (short serif spurs pruned)
and redrawn with ``rasterize_strokes`` at the canvas pen width (5 px of 105, the character filling
the canvas as a person draws it) with a slight seeded jitter (pen width, aspect, rotation, shear
and a smooth wobble), then preprocessed like every drawing (centred, 28 px).

Splits test generalisation twice over (split ``disjoint``, the only one):

* characters: ``char_subset(c)`` from the SHA-1 of the character: 70 % train, 15 % val, 15 % test
  (the same function serves ``kanjivg``, so a kanji is in the same subset in both datasets);
* font *designs*: families grouped into designs (metric clones such as Liberation Sans, Nimbus
  Sans and FreeSans are one design; IPA and Takao, ...), and the designs of each coverage stratum
  (CJK, kana, other) ordered by SHA-1 of their name: 15 % test, 15 % val (at least one each when
  the stratum has three), the rest train.

A subset holds its characters drawn in its designs only; ``trainval`` is train + val of both.
Characters that look alike in most fonts (Latin A, Greek Alpha, Cyrillic A; ``O`` and ``0``;
katakana ``he`` and hiragana ``he``) are merged into the first of them when the cache is built.

The cache is made once by ``python -m core.data.glyphs build`` (see docs/glyphs.md):
``<data root>/glyphs/glyphs-<size>.npz`` + ``manifest.json``; ``kanjivg`` (``core.data.kanjivg``)
is built by the same command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.data.base import InMemoryDataset, class_layout
from core.data.paths import DataNotFoundError
from core.data.preprocess import CANVAS_SIZE, DEFAULT_SIZE, preprocess_image, rasterize_strokes
from core.data.spec import PreprocessSpec

GLYPHS_SPLIT = "disjoint"
SUBSETS = ("train", "val", "test", "trainval")
CACHE_VERSION = 1
#: Fractions of characters in val and test (the rest train), by SHA-1 of the character.
CHAR_VAL, CHAR_TEST = 0.15, 0.15
#: Fractions of font designs in val and test per coverage stratum (at least one each from 3 on).
DESIGN_VAL, DESIGN_TEST = 0.15, 0.15
#: The canvas pen: 5 px of the 105 px canvas (``DrawingCanvas.DEFAULT_WIDTH``).
PEN_WIDTH = 5.0
#: Longer side of a character as drawn on the canvas, in canvas pixels (most of the canvas).
DRAWN_SIDE = 88.0
#: Font size the outlines are rendered at before thinning (pixels per em).
RENDER_PX = 72
#: Characters whose silhouettes differ by less than this (soft Jaccard distance) in most of the
#: faces drawing both are one class (Latin A, Greek Alpha, Cyrillic A).
LOOKALIKE = 0.15
#: At most this many examples of a character from one design (Noto Sans and its script
#: siblings share their Latin letters and digits: 4 of them, not 150 copies).
PER_DESIGN = 4
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
DEFAULT_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
)
#: Families that are not letters (placeholders, math extension pieces, dingbats, icons).
EXCLUDED_FAMILIES = re.compile(
    r"last ?resort|^cmex|^cmsy|^stixsize|^stixnonunicode|^stix size|dingbat|^d050000l|"
    r"standard symbols|font ?awesome|symbol|emoji|^noto (sans|serif) (math|symbols)|music",
    re.IGNORECASE,
)
#: Families that are one design (metric clones, renamed forks), by lower-case family name.
_CLONES = {
    "Helvetica/Arial": ("liberation sans", "liberation sans narrow", "nimbus sans",
                        "nimbus sans narrow", "freesans", "arimo", "arial", "helvetica",
                        "tex gyre heros"),
    "Times": ("liberation serif", "nimbus roman", "freeserif", "tinos", "times new roman",
              "times", "tex gyre termes"),
    "Courier": ("liberation mono", "nimbus mono ps", "nimbus mono", "freemono", "cousine",
                "courier new", "courier", "tex gyre cursor"),
    "Vera Sans": ("dejavu sans", "bitstream vera sans", "dejavu sans display"),
    "Vera Sans Mono": ("dejavu sans mono", "bitstream vera sans mono", "hack", "menlo"),
    "Vera Serif": ("dejavu serif", "bitstream vera serif", "dejavu serif display"),
    "Open Sans": ("open sans", "droid sans", "noto sans"),
    "Century Schoolbook": ("c059", "century schoolbook l", "tex gyre schola"),
    "Palatino": ("p052", "urw palladio l", "tex gyre pagella"),
    "Bookman": ("urw bookman", "urw bookman l", "tex gyre bonum"),
    "Avant Garde": ("urw gothic", "urw gothic l", "tex gyre adventor"),
    "Zapf Chancery": ("z003", "urw chancery l", "tex gyre chorus"),
}  # fmt: skip
_CLONE_OF = {name: design for design, names in _CLONES.items() for name in names}
#: Family-name prefixes that are one design (a family and its forks, widths and scripts).
_DESIGN_PREFIXES = (
    ("ipa", "IPA"), ("takao", "IPA"), ("wenquanyi", "WenQuanYi"), ("ume", "Ume"),
    ("vl ", "M+"), ("m+", "M+"), ("mplus", "M+"), ("ar pl ukai", "AR PL UKai"),
    ("ar pl uming", "AR PL UMing"), ("noto sans mono", "Noto Sans Mono"),
    ("noto serif", "Noto Serif"), ("noto sans", "Open Sans"), ("noto kufi", "Noto Kufi"),
    ("noto looped", "Noto Looped"), ("noto naskh", "Noto Naskh"), ("noto rashi", "Noto Rashi"),
    ("averia", "Averia"), ("gentium", "Gentium"), ("comic neue", "Comic Neue"),
    ("go", "Go"), ("fira", "Fira"), ("pt ", None), ("linux", None), ("stix", "STIX"),
    ("roboto", "Roboto"), ("jetbrains", "JetBrains Mono"), ("junicode", "Junicode"),
    ("hanazono", "Hanazono"), ("motoya", None), ("sawarabi", None), ("cmr", "Computer Modern"),
    ("cmss", "Computer Modern"), ("cmtt", "Computer Modern"), ("cmti", "Computer Modern"),
    ("cmb", "Computer Modern"), ("cmmi", "Computer Modern"),
)  # fmt: skip
_STYLE_WORDS = re.compile(
    r"\b(regular|book|roman|normal|medium|bold|semibold|semi ?bold|demibold|demi|extrabold|"
    r"extra ?bold|ultrabold|black|heavy|light|extralight|extra ?light|ultralight|thin|hairline|"
    r"italic|oblique|slanted|condensed|semicondensed|semi ?condensed|narrow|expanded|"
    r"extended|wide|display|text|caption|subhead|w\d)\b",
    re.IGNORECASE,
)


# ---- the characters ---------------------------------------------------------------------------


def _jis_level1() -> list[str]:
    """The 2,965 level-1 kanji of JIS X 0208 (rows 16-47), the commonly used ones."""
    out = []
    for row in range(0xB0, 0xD0):
        for col in range(0xA1, 0xFF):
            try:
                c = bytes([row, col]).decode("euc_jp")
            except UnicodeDecodeError:
                continue
            if len(c) == 1 and "\u4e00" <= c <= "\u9fff":
                out.append(c)
    return out


def _plain(chars: Iterable[str]) -> list[str]:
    """Characters without diacritics (no voiced kana, no accented letters) or small forms."""
    return [
        c
        for c in chars
        if len(unicodedata.normalize("NFD", c)) == 1
        and "LETTER SMALL" not in unicodedata.name(c, "")
    ]


def _span(a: str, b: str) -> list[str]:
    return [chr(i) for i in range(ord(a), ord(b) + 1) if unicodedata.name(chr(i), "")]


SYMBOLS = (
    "!?#$%&@*+=<>/\\|~^()[]{}§¶©®€£¥¢‰∞≈≠≤≥±×÷√∫∂∇∀∃∈∩∪⊂⊃¬∧∨†‡°¿¡№℃™¤"
    "★☆♠♣♥♦♪♫→←↑↓↔⇒⇔☺☼✓✗⌘∴∵∠⊥∮∝∅ℵ"
)  # fmt: skip


def inventory() -> dict[str, list[str]]:
    """The candidate characters by script (the dataset's groups), before look-alikes merge."""
    return {
        "Latin": [*_span("A", "Z"), *_span("a", "z"), *"ßæœøþðŋÆŒØÞÐŊ"],
        "Digits": list("0123456789"),
        "Greek": _plain([c for c in _span("\u0391", "\u03c9") if c != "\u03a2"]),
        "Cyrillic": _plain(_span("\u0410", "\u044f")),
        "Symbols": list(dict.fromkeys(SYMBOLS)),
        "Hiragana": _plain(_span("\u3042", "\u3093")),
        "Katakana": _plain(_span("\u30a2", "\u30f3")),
        "CJK": _jis_level1(),
    }


def script_of(c: str) -> str:
    """The script group a character belongs to (``CJK`` for any ideograph)."""
    for script, chars in _INVENTORY_INDEX().items():
        if c in chars:
            return script
    if "\u3040" <= c <= "\u309f":
        return "Hiragana"
    if "\u30a0" <= c <= "\u30ff":
        return "Katakana"
    if "\u2e80" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or c >= "\U00020000":
        return "CJK"
    return "Symbols"


_INDEX: dict[str, frozenset[str]] = {}


def _INVENTORY_INDEX() -> dict[str, frozenset[str]]:
    if not _INDEX:
        _INDEX.update({k: frozenset(v) for k, v in inventory().items()})
    return _INDEX


def _fraction(text: str) -> float:
    """A stable number in [0, 1) from ``text`` (SHA-1), the same on every machine."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big") / 2.0**64


def char_subset(c: str) -> str:
    """``train``, ``val`` or ``test``: the subset character ``c`` belongs to (glyphs, kanjivg)."""
    u = _fraction("char:" + c)
    return "test" if u < CHAR_TEST else "val" if u < CHAR_TEST + CHAR_VAL else "train"


def subset_parts(subset: str) -> tuple[str, ...]:
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    return ("train", "val") if subset == "trainval" else (subset,)


# ---- the fonts --------------------------------------------------------------------------------


@dataclass
class Face:
    """One face of a font file: ``path`` (and ``index`` inside a collection), its family, style,
    design (the split unit), weight, italic flag and the characters it maps."""

    path: str
    index: int
    family: str
    style: str
    design: str
    weight: int
    italic: bool
    cmap: frozenset[int] = field(default_factory=frozenset, repr=False)

    @property
    def key(self) -> str:
        return f"{self.family}/{self.style}"

    def to_dict(self) -> dict:
        return {"path": self.path, "index": self.index, "family": self.family,
                "style": self.style, "design": self.design, "weight": self.weight,
                "italic": self.italic}  # fmt: skip


class FontError(ValueError):
    """A font file or folder that cannot be used; the message names it (one line)."""


def family_key(name: str) -> str:
    """A family name without weight, width and slant words: ``DejaVu Sans Condensed`` ->
    ``DejaVu Sans``."""
    base = _STYLE_WORDS.sub(" ", name)
    return re.sub(r"\s+", " ", base).strip(" -_,") or name.strip()


def design_of(family: str) -> str:
    """The design a family belongs to (clones and forks together; else the family itself)."""
    low = family.lower()
    if low in _CLONE_OF:
        return _CLONE_OF[low]
    for prefix, design in _DESIGN_PREFIXES:
        if low.startswith(prefix):
            return design or " ".join(family.split()[:2])
    return family


def _name(font, *ids: int) -> str | None:
    table = font["name"]
    for i in ids:
        rec = table.getDebugName(i)
        if rec:
            return str(rec).strip()
    return None


def read_faces(path: Path) -> list[Face]:
    """The faces in font file ``path`` (several in a .ttc); FontError when it is not readable."""
    from fontTools.ttLib import TTCollection, TTFont, TTLibError

    path = Path(path)
    try:
        if path.suffix.lower() in (".ttc", ".otc"):
            with TTCollection(str(path), lazy=True) as coll:
                count = len(coll.fonts)
        else:
            count = 1
        faces = []
        for index in range(count):
            font = TTFont(str(path), fontNumber=index, lazy=True)
            try:
                cmap_table = font["cmap"]
                if any(
                    t.platformID == 3 and t.platEncID == 0 for t in cmap_table.tables
                ) and not any(t.isUnicode() and t.platEncID != 0 for t in cmap_table.tables):
                    continue  # a symbol-encoded font: its letters are not letters
                cmap = font.getBestCmap() or {}
                raw = _name(font, 16, 1) or path.stem
                style = _name(font, 17, 2) or "Regular"
                os2 = font.get("OS/2")
                weight = int(getattr(os2, "usWeightClass", 400) or 400)
                italic = bool(os2 and os2.fsSelection & 1) or bool(
                    re.search(r"italic|oblique|slanted", style, re.IGNORECASE)
                )
            finally:
                font.close()
            family = family_key(raw)
            faces.append(Face(str(path), index, family, style, design_of(family), weight,
                              italic, frozenset(cmap)))  # fmt: skip
        return faces
    except (TTLibError, OSError, KeyError, AssertionError, ValueError, struct_error()) as exc:
        raise FontError(f"{path}: not a readable font ({type(exc).__name__}: {exc})") from None


def struct_error():
    import struct

    return struct.error


def mpl_font_dir() -> Path | None:
    """matplotlib's bundled fonts (DejaVu, STIX, Computer Modern), when matplotlib is installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    folder = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
    return folder if folder.is_dir() else None


def find_font_files(dirs: Sequence[Path]) -> list[Path]:
    """Font files (TTF, OTF, TTC, OTC) under ``dirs``, sorted; FontError when there are none."""
    files = []
    for d in dirs:
        d = Path(d).expanduser()
        if d.is_file():
            files.append(d)
            continue
        if not d.is_dir():
            raise FontError(f"{d}: no such font folder")
        for base, _, names in os.walk(d, followlinks=True):
            files += [Path(base) / n for n in names if n.lower().endswith(FONT_SUFFIXES)]
    if not files:
        raise FontError(f"no font files (.ttf .otf .ttc .otc) in {', '.join(map(str, dirs))}")
    return sorted(set(files))


def choose_faces(faces: Sequence[Face], per_family: int = 2) -> list[Face]:
    """Per family the face nearest to an upright regular and the one nearest to an upright
    italic (``per_family`` 1: the upright only); excluded families (placeholders, symbols) out."""
    by_family: dict[str, list[Face]] = {}
    for f in faces:
        if EXCLUDED_FAMILIES.search(f.family):
            continue
        by_family.setdefault(f.family, []).append(f)
    chosen = []
    for family in sorted(by_family):
        group = sorted(by_family[family], key=lambda f: (abs(f.weight - 400), f.path, f.index))
        upright = [f for f in group if not f.italic]
        italic = [f for f in group if f.italic]
        picks = (upright[:1] or italic[:1]) + (italic[:1] if upright and per_family > 1 else [])
        chosen += picks
    return chosen


def _stratum(face_cov: dict[str, int], n: dict[str, int]) -> str:
    if face_cov.get("CJK", 0) >= 0.5 * n.get("CJK", 1):
        return "cjk"
    if face_cov.get("Hiragana", 0) >= 0.5 * n.get("Hiragana", 1):
        return "kana"
    return "other"


def assign_designs(faces: Sequence[Face], chars: dict[str, list[str]]) -> dict[str, str]:
    """Design -> subset: per coverage stratum, designs by SHA-1 of their name, the first
    ``DESIGN_TEST`` test, the next ``DESIGN_VAL`` val (at least one each from 3 designs on)."""
    n = {s: len(v) for s, v in chars.items()}
    strata: dict[str, str] = {}
    rank = {"other": 0, "kana": 1, "cjk": 2}
    for f in faces:
        cov = {s: sum(ord(c) in f.cmap for c in v) for s, v in chars.items() if s in n}
        s = _stratum(cov, n)
        if rank[s] > rank[strata.get(f.design, "other")] or f.design not in strata:
            strata[f.design] = s
    out = {}
    for s in ("cjk", "kana", "other"):
        designs = sorted((d for d, t in strata.items() if t == s),
                         key=lambda d: _fraction("design:" + d))  # fmt: skip
        k = len(designs)
        n_test = max(1 if k >= 3 else 0, round(DESIGN_TEST * k))
        n_val = max(1 if k >= 3 else 0, round(DESIGN_VAL * k))
        for i, d in enumerate(designs):
            out[d] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


# ---- rendering --------------------------------------------------------------------------------


def _prune(skel: np.ndarray, length: int) -> np.ndarray:
    """Remove skeleton spurs (serifs) up to ``length`` pixels, keeping the strokes' own ends
    (morphological pruning: erode end points, then regrow from the survivors)."""
    from scipy.ndimage import convolve

    kernel = np.ones((3, 3), dtype=np.int32)
    kernel[1, 1] = 0
    cur = skel.copy()
    for _ in range(length):
        nb = convolve(cur.astype(np.int32), kernel, mode="constant")
        ends = cur & (nb <= 1)
        if not ends.any():
            break
        cur = cur & ~ends
    for _ in range(length):  # regrow from the remaining end points along the original skeleton
        nb = convolve(cur.astype(np.int32), kernel, mode="constant")
        ends = cur & (nb <= 1)
        grow = convolve(ends.astype(np.int32), np.ones((3, 3), dtype=np.int32), mode="constant")
        new = skel & ~cur & (grow > 0)
        if not new.any():
            break
        cur = cur | new
    from scipy.ndimage import label

    parts, n = label(skel, structure=np.ones((3, 3)))
    if n:  # a dot or a short stroke pruned away entirely comes back whole
        kept = np.unique(parts[cur])
        lost = np.setdiff1d(np.arange(1, n + 1), kept)
        cur = cur | np.isin(parts, lost)
    return cur


def glyph_mask(font, c: str) -> np.ndarray | None:
    """The filled glyph of ``c`` in PIL font ``font`` as a boolean array (None: no ink)."""
    from PIL import Image, ImageDraw

    side = RENDER_PX * 2
    img = Image.new("L", (side, side), 0)
    ImageDraw.Draw(img).text((side / 2, side / 2), c, font=font, fill=255, anchor="mm")
    a = np.asarray(img) > 127
    if a.sum() < 4:
        return None
    ys, xs = np.nonzero(a)
    return a[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def skeleton_points(mask: np.ndarray) -> np.ndarray:
    """``(n, 2)`` float ``(x, y)`` of the glyph's pruned skeleton in glyph pixels."""
    from skimage.morphology import skeletonize

    padded = np.pad(mask, 2)
    skel = skeletonize(padded)
    skel = _prune(skel, max(2, round(0.09 * max(mask.shape))))
    ys, xs = np.nonzero(skel)
    return np.stack([xs, ys], 1).astype(np.float64) - 2.0


def jitter_points(pts: np.ndarray, rng: np.random.Generator, amount: float = 1.0) -> np.ndarray:
    """Points of a character scaled so its longer side is ``DRAWN_SIDE`` on the 105 px canvas,
    centred, with a slight hand: aspect, rotation, shear and a smooth wobble (``amount`` 0:
    none)."""
    lo, hi = pts.min(0), pts.max(0)
    centre, side = (lo + hi) / 2, max(float((hi - lo).max()), 1.0)
    p = (pts - centre) / side  # longer side 1, centred on 0
    a = amount
    ang = math.radians(rng.uniform(-4, 4) * a)
    shear = rng.uniform(-0.08, 0.08) * a
    sx, sy = 1 + rng.uniform(-0.08, 0.08) * a, 1 + rng.uniform(-0.08, 0.08) * a
    m = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    m = m @ np.array([[sx, shear], [0, sy]])
    p = p @ m.T
    for _ in range(3):  # a smooth wobble: low-frequency sinusoids, about 1 % of the side
        k = rng.uniform(1.0, 3.0, size=2)
        ph = rng.uniform(0, 2 * math.pi, size=2)
        amp = rng.uniform(0.004, 0.012, size=2) * a
        p[:, 0] += amp[0] * np.sin(2 * math.pi * k[0] * p[:, 1] + ph[0])
        p[:, 1] += amp[1] * np.sin(2 * math.pi * k[1] * p[:, 0] + ph[1])
    lo, hi = p.min(0), p.max(0)
    p = (p - (lo + hi) / 2) / max(float((hi - lo).max()), 1e-6)
    return p * DRAWN_SIDE + CANVAS_SIZE / 2


def draw_points(pts: np.ndarray, width: float):
    """The canvas raster of a character given as pen positions (every point a round pen dab,
    consecutive skeleton pixels overlapping into strokes)."""
    strokes = [[(float(x), float(y))] for x, y in pts]
    return rasterize_strokes(strokes, width, CANVAS_SIZE, CANVAS_SIZE)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x[0].numpy() * 255.0 + 0.5).astype(np.uint8)


def render_glyph(font, c: str, seed: int, size: int = DEFAULT_SIZE,
                 amount: float = 1.0) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
    """``(drawn, signature)`` of ``c``: the pen-drawn uint8 ``(size, size)`` image (ink 255) and
    the filled 16 px silhouette used to find look-alike characters; None when the font draws no
    ink for it."""
    mask = glyph_mask(font, c)
    if mask is None:
        return None
    pts = skeleton_points(mask)
    if len(pts) == 0:
        return None
    rng = np.random.default_rng(seed)
    width = PEN_WIDTH * rng.uniform(0.8, 1.25) ** amount
    drawn = to_uint8(preprocess_image(draw_points(jitter_points(pts, rng, amount), width), size))
    from PIL import Image

    plain = Image.fromarray(np.where(mask, 0, 255).astype(np.uint8))
    return drawn, to_uint8(preprocess_image(plain, 16))


def seed_of(*parts: object) -> int:
    return int.from_bytes(hashlib.sha1("|".join(map(str, parts)).encode()).digest()[:8], "big")


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


# ---- the dataset -------------------------------------------------------------------------------


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


# ---- the command line ----------------------------------------------------------------------------


def default_font_dirs() -> list[Path]:
    dirs = [Path(d).expanduser() for d in DEFAULT_FONT_DIRS if Path(d).expanduser().is_dir()]
    mpl = mpl_font_dir()
    return dirs + ([mpl] if mpl else [])


def main(argv: list[str] | None = None) -> int:
    from core.cli import fail
    from core.data.paths import data_root

    p = argparse.ArgumentParser(
        prog="python -m core.data.glyphs",
        description="Build the glyph cache (characters drawn in outline fonts) and the KanjiVG "
        "cache under the data root.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="render the fonts' characters (and KanjiVG's strokes)")
    b.add_argument("--fonts", type=Path, nargs="+", default=None, metavar="DIR",
                   help="font folders or files (default: the system's font folders and "
                   "matplotlib's bundled fonts)")  # fmt: skip
    b.add_argument("--out", type=Path, default=None,
                   help="data root to write glyphs/ (and kanjivg/) into (default "
                   "$METAGUI_DATA, else the user cache)")  # fmt: skip
    b.add_argument("--size", type=int, default=DEFAULT_SIZE, help="side in pixels (default 28)")
    b.add_argument(
        "--faces-per-family",
        type=int,
        default=2,
        choices=(1, 2),
        help="1: the upright face of each family; 2: also its italic (default)",
    )
    b.add_argument(
        "--kanjivg",
        choices=("auto", "yes", "no", "only"),
        default="auto",
        help="also build the kanjivg cache (auto: when KanjiVG is found; only: the kanjivg "
        "cache alone, no fonts)",
    )
    b.add_argument(
        "--kanjivg-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="KanjiVG's kanji/ folder of stroke SVGs, or the folder holding it (e.g. a `pip "
        "install --target DIR kanjivg`); default: <out>/kanjivg/kanji, else the installed "
        "kanjivg package",
    )
    b.add_argument(
        "--drawers",
        type=int,
        default=20,
        help="jittered drawings of each KanjiVG character (default 20)",
    )
    args = p.parse_args(argv)
    if args.size < 8:
        return fail("--size must be at least 8")
    root = Path(args.out).expanduser() if args.out else data_root(None)
    dirs = args.fonts or default_font_dirs()
    try:
        if args.kanjivg != "only":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                m = build_glyphs(dirs, root / "glyphs", args.size, args.faces_per_family)
            print(f"glyphs: {m['n_items']} drawings of {m['n_characters']} characters in "
                  f"{m['n_faces']} faces ({m['n_designs']} designs), {m['build_seconds']} s -> "
                  f"{cache_path(root, args.size)}")  # fmt: skip
        if args.kanjivg != "no":
            from core.data import kanjivg

            src = kanjivg.svg_folder(root, args.kanjivg_dir)
            if src is None and args.kanjivg_dir is not None:
                return fail(f"{args.kanjivg_dir}: no KanjiVG kanji/ folder of <hex>.svg files")
            if src is None and args.kanjivg in ("yes", "only"):
                return fail("KanjiVG not found: pip install kanjivg (or put its kanji/ folder "
                            f"in {root / 'kanjivg'})")  # fmt: skip
            if src is not None:
                k = kanjivg.build_kanjivg(src, root / "kanjivg", args.size, args.drawers)
                print(
                    f"kanjivg: {k['n_items']} drawings of {k['n_characters']} characters, "
                    f"{k['build_seconds']} s -> {kanjivg.cache_path(root, args.size)}"
                )
    except (FontError, DataNotFoundError, ValueError, OSError) as exc:
        return fail(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
