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

The code is in submodules, whose public names are re-exported here (``from core.data.glyphs
import ...`` as before): ``characters`` (the inventory by script, ``char_subset``), ``fonts``
(faces, designs and their split), ``render`` (a glyph drawn with the canvas pen), ``build`` (the
cache, look-alike characters), ``dataset`` (``GlyphDataset``, ``load_glyphs``) and ``cli``
(``main``, run by ``python -m core.data.glyphs``).
"""

from __future__ import annotations

from core.data.glyphs.build import (
    CACHE_VERSION,
    LOOKALIKE,
    PER_DESIGN,
    build_glyphs,
    cache_path,
    face_rank,
    find_lookalikes,
    plan_work,
)
from core.data.glyphs.characters import (
    CHAR_TEST,
    CHAR_VAL,
    GLYPHS_SPLIT,
    SUBSETS,
    SYMBOLS,
    char_subset,
    inventory,
    script_of,
    subset_parts,
)
from core.data.glyphs.cli import (
    default_font_dirs,
    main,
)
from core.data.glyphs.dataset import (
    GlyphDataset,
    load_glyphs,
    read_cache,
    select,
)
from core.data.glyphs.fonts import (
    DEFAULT_FONT_DIRS,
    DESIGN_TEST,
    DESIGN_VAL,
    EXCLUDED_FAMILIES,
    FONT_SUFFIXES,
    Face,
    FontError,
    assign_designs,
    choose_faces,
    design_of,
    family_key,
    find_font_files,
    mpl_font_dir,
    read_faces,
)
from core.data.glyphs.render import (
    DRAWN_SIDE,
    PEN_WIDTH,
    RENDER_PX,
    draw_points,
    glyph_mask,
    jitter_points,
    render_glyph,
    seed_of,
    skeleton_points,
    to_uint8,
)

__all__ = [
    "CACHE_VERSION",
    "CHAR_TEST",
    "CHAR_VAL",
    "DEFAULT_FONT_DIRS",
    "DESIGN_TEST",
    "DESIGN_VAL",
    "DRAWN_SIDE",
    "EXCLUDED_FAMILIES",
    "FONT_SUFFIXES",
    "GLYPHS_SPLIT",
    "LOOKALIKE",
    "PEN_WIDTH",
    "PER_DESIGN",
    "RENDER_PX",
    "SUBSETS",
    "SYMBOLS",
    "Face",
    "FontError",
    "GlyphDataset",
    "assign_designs",
    "build_glyphs",
    "cache_path",
    "char_subset",
    "choose_faces",
    "default_font_dirs",
    "design_of",
    "draw_points",
    "face_rank",
    "family_key",
    "find_font_files",
    "find_lookalikes",
    "glyph_mask",
    "inventory",
    "jitter_points",
    "load_glyphs",
    "main",
    "mpl_font_dir",
    "plan_work",
    "read_cache",
    "read_faces",
    "render_glyph",
    "script_of",
    "seed_of",
    "select",
    "skeleton_points",
    "subset_parts",
    "to_uint8",
]
