"""The command line: ``python -m core.data.glyphs build`` (the glyph and the KanjiVG caches)."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from core.data.glyphs.build import build_glyphs, cache_path
from core.data.glyphs.fonts import DEFAULT_FONT_DIRS, FontError, mpl_font_dir
from core.data.paths import DataNotFoundError
from core.data.preprocess import DEFAULT_SIZE


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
