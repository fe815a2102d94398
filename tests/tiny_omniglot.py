"""A tiny generated Omniglot layout for tests (imported by conftest.py and tests)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def _glyph(rng: np.random.Generator, char_seed: int) -> Image.Image:
    """A 105x105 1-bit 'character': strokes fixed per character, jittered per drawer."""
    shape = np.random.default_rng(char_seed).uniform(15, 90, size=(3, 2))
    img = Image.new("L", (105, 105), 255)
    draw = ImageDraw.Draw(img)
    pts = [tuple(p + rng.normal(0, 2, size=2)) for p in shape]
    draw.line(pts, fill=0, width=3)
    return img.convert("1")


def make_tiny_omniglot(
    root: Path, alphabets: int = 3, characters: int = 6, drawers: int = 20, as_zip: bool = True
) -> Path:
    """Write a small Omniglot-shaped layout under ``root/omniglot``; return ``root``.

    Background alphabets ``Bg0..``, evaluation alphabets ``Ev0..``; Vinyals split files put the
    first half of every alphabet's characters in train/trainval (val: the last train alphabet),
    the rest in test, each with four rotations.
    """
    rng = np.random.default_rng(0)
    base = root / "omniglot"
    base.mkdir(parents=True, exist_ok=True)
    split: dict[str, list[str]] = {"train": [], "val": [], "trainval": [], "test": []}
    char_id = 0
    for which, prefix in (("background", "Bg"), ("evaluation", "Ev")):
        folder = base / f"images_{which}"
        for a in range(alphabets):
            for c in range(characters):
                char_id += 1
                char_dir = folder / f"{prefix}{a}" / f"character{c + 1:02d}"
                char_dir.mkdir(parents=True)
                for d in range(drawers):
                    _glyph(rng, char_id).save(char_dir / f"{char_id:04d}_{d + 1:02d}.png")
                subset = "trainval" if c < characters // 2 else "test"
                for rot in ("rot000", "rot090", "rot180", "rot270"):
                    name = f"{prefix}{a}/character{c + 1:02d}/{rot}"
                    split[subset].append(name)
                    if subset == "trainval":
                        is_val = prefix == "Ev" and a == alphabets - 1
                        split["val" if is_val else "train"].append(name)
        if as_zip:
            with zipfile.ZipFile(base / f"images_{which}.zip", "w") as zf:
                for path in sorted(folder.rglob("*")):
                    zf.write(path, path.relative_to(base).as_posix())
            for path in sorted(folder.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            folder.rmdir()
    splits = base / "splits" / "vinyals"
    splits.mkdir(parents=True)
    for name, lines in split.items():
        (splits / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root
