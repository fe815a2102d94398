"""Contact sheets of the drawing datasets, as the model sees them (28 px, ink dark):

    python benchmarks/glyph_sheet.py --data-root /work/data --out docs/glyphs.png

Rows: Omniglot drawings (Lake background, 10 drawers of a character), glyphs (a character in 10
font families of one subset), KanjiVG (10 jittered drawers of a kanji), and the ``drawing``
training augmentation of one glyph (10 seeds). Needs the caches of ``core.data.glyphs build``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from core.data import load_dataset
from core.data.augment import Drawing

SCALE = 2
PER_ROW = 10


def _row(images: torch.Tensor) -> np.ndarray:
    x = images[:PER_ROW, 0].numpy()
    if len(x) < PER_ROW:
        x = np.concatenate([x, np.zeros((PER_ROW - len(x), *x.shape[1:]), np.uint8)])
    return np.concatenate([np.pad(255 - a, 1, constant_values=200) for a in x], 1)


def _class_rows(ds, names, limit: int) -> list[tuple[str, np.ndarray]]:
    rows = []
    for name in names[:limit]:
        c = ds.names.index(name)
        start, count = int(ds.offsets[c]), int(ds.counts[c])
        rows.append((name, _row(ds.items(torch.arange(start, start + min(count, PER_ROW))))))
    return rows


def sheet(root: Path, out: Path, subset: str) -> None:
    sections = []
    omni = load_dataset("omniglot", root, "train", split="lake")
    picks = [n for n in omni.names if n.endswith("rot000")]
    step = max(1, len(picks) // 4)
    rows = _class_rows(omni, picks[::step], 4)
    sections.append(("Omniglot, Lake background (drawers)", rows))
    g = load_dataset("glyphs", root, subset)
    want = [c for c in "AgR5&ЖλあカシΩ書永国" if c in g.names]
    for script in ("Latin", "Digits", "Greek", "Cyrillic", "Symbols", "Hiragana", "CJK"):
        if len(want) < 6 and script in g.groups:  # a subset without those: one per script
            first = next(n for n, i in zip(g.names, g.group_ids.tolist(), strict=True)
                         if g.groups[i] == script)  # fmt: skip
            want += [first] if first not in want else []
    sections.append((f"glyphs {subset} (one per font family)", _class_rows(g, want, 6)))
    k = load_dataset("kanjivg", root, subset)
    sections.append(
        (f"kanjivg {subset} (jittered drawers)", _class_rows(k, list(k.names[::97]), 4))
    )
    c = g.names.index(want[0])
    one = g.items(torch.tensor([int(g.offsets[c])] * PER_ROW)).float() / 255
    aug = torch.cat(
        [Drawing()(one[i : i + 1], torch.Generator().manual_seed(i)) for i in range(PER_ROW)]
    )
    sections.append(("--augment drawing (10 seeds)", [(want[0], _row((aug * 255).round().byte()))]))
    label_w, line_h, cell = 110, 14, 30
    height = sum(line_h + len(r) * cell for _, r in sections) + 4
    width = label_w + PER_ROW * cell
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    y = 2
    for title, rows in sections:
        draw.text((2, y), title, fill=0)
        y += line_h
        for name, arr in rows:
            label = name if len(name) < 18 else name.split("/")[0][:16]
            draw.text((2, y + 8), label if label.isascii() else f"U+{ord(name[0]):04X}", fill=60)
            canvas.paste(Image.fromarray(arr), (label_w, y))
            y += cell
    canvas = canvas.resize((width * SCALE, height * SCALE), Image.Resampling.NEAREST)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, optimize=True)
    print(f"{out}: {canvas.size[0]}x{canvas.size[1]}, {out.stat().st_size // 1024} KB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("docs/glyphs.png"))
    p.add_argument("--subset", default="test")
    args = p.parse_args()
    sheet(args.data_root, args.out, args.subset)


if __name__ == "__main__":
    main()
