"""The fonts of ``glyphs``: reading font files' faces, choosing them and grouping families into
designs (the split unit), and the designs' split."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.data.glyphs.characters import _fraction

#: Fractions of font designs in val and test per coverage stratum (at least one each from 3 on).
DESIGN_VAL, DESIGN_TEST = 0.15, 0.15
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
