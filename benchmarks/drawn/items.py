"""The held-out drawings of ``glyphs`` and ``kanjivg`` as pen strokes, replayed on the canvas.

An item is one drawing of a test character: a glyph test character in a test font face (exactly
the items of ``core.data.glyphs.load_glyphs(root, "test")``: ``char_subset``, the manifest's
``design_subsets`` and ``select``'s per-design limit), or a KanjiVG test character by one of the
cache's seeded drawers. Its strokes are made as the caches make their images, with the same
seeds: a glyph's pruned skeleton, jittered, one pen dab per skeleton pixel (``render_glyph``),
re-rendered from the font file the manifest records; a kanji's jittered KanjiVG strokes as
polylines (``draw_kanji``). ``CanvasPen`` puts them on the window's real ``DrawingCanvas`` with
mouse events (press, moves, release per stroke) and reads back the canvas's ``Drawing``; the model
input is that drawing's ``preprocess(spec)``, as the window makes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.data import kanjivg
from core.data.glyphs import (
    PEN_WIDTH,
    RENDER_PX,
    Face,
    char_subset,
    choose_faces,
    glyph_mask,
    jitter_points,
    read_cache,
    read_faces,
    script_of,
    seed_of,
    select,
    skeleton_points,
)
from core.data.paths import DataNotFoundError
from core.data.preprocess import CANVAS_SIZE, DEFAULT_SIZE
from core.data.spec import PreprocessSpec
from metagui.app.compute import query_tensor
from metagui.app.session import Drawing, Example

BUILD = "python -m core.data.glyphs build --out {root}"
Strokes = list[list[tuple[float, float]]]


@dataclass(frozen=True)
class Item:
    """One drawing: ``char`` by ``family`` (the unit of cross-family cells: a glyph's font
    design, a kanji's KanjiVG form, plain or Kaisho); ``face``: the face's manifest index or the
    drawer's number; ``seed``: its jitter seed (the cache's); ``cache_row``: its image in the
    cache (-1: none)."""

    char: str
    family: str
    label: str
    face: int
    seed: int
    cache_row: int = -1


@dataclass
class Pool:
    """The test classes of one dataset (or a view of some of its scripts) and their items;
    ``by_class[c]``: indices into ``items`` (shared by every view of the dataset)."""

    name: str
    dataset: str
    chars: list[str]
    scripts: list[str]
    items: list[Item]
    by_class: list[list[int]]
    source: object  # GlyphSource | KanjiSource: strokes(item)
    cache_images: np.ndarray | None = field(default=None, repr=False)

    def view(self, scripts: Sequence[str], name: str) -> Pool:
        keep = [c for c, s in enumerate(self.scripts) if s in scripts]
        return replace(self, name=name, chars=[self.chars[c] for c in keep],
                       scripts=[self.scripts[c] for c in keep],
                       by_class=[self.by_class[c] for c in keep])  # fmt: skip


class GlyphSource:
    """Strokes of glyph items from their font files (``faces``: manifest face dicts)."""

    def __init__(self, faces: Sequence[dict]) -> None:
        self.faces = list(faces)
        self._fonts: dict[int, object] = {}

    def font(self, index: int):
        from PIL import ImageFont

        if index not in self._fonts:
            f = self.faces[index]
            self._fonts[index] = ImageFont.truetype(f["path"], RENDER_PX, index=f["index"])
        return self._fonts[index]

    def strokes(self, item: Item) -> tuple[Strokes, float]:
        """One pen dab per skeleton pixel, in the unit square; pen width as a fraction."""
        mask = glyph_mask(self.font(item.face), item.char)
        if mask is None:
            raise ValueError(f"{item.label} draws no ink for {item.char!r}")
        rng = np.random.default_rng(item.seed)
        width = PEN_WIDTH * rng.uniform(0.8, 1.25)
        pts = jitter_points(skeleton_points(mask), rng) / CANVAS_SIZE
        return [[(float(x), float(y))] for x, y in pts], width / CANVAS_SIZE


class KanjiSource:
    """Strokes of KanjiVG items: ``forms[char]`` its plain form and its Kaisho form if any."""

    def __init__(self, forms: dict[str, list[list[np.ndarray]]]) -> None:
        self.forms = forms

    def strokes(self, item: Item) -> tuple[Strokes, float]:
        forms = self.forms[item.char]
        rng = np.random.default_rng(item.seed)
        width = PEN_WIDTH * rng.uniform(0.8, 1.25)
        drawn = kanjivg.jitter_strokes(forms[item.face % len(forms)], rng)
        return [[(float(x) / CANVAS_SIZE, float(y) / CANVAS_SIZE) for x, y in s]
                for s in drawn], width / CANVAS_SIZE  # fmt: skip


def _pool(name: str, items: list[Item], scripts_of: dict[str, str], source,
          images=None, min_items: int = 2) -> Pool:  # fmt: skip
    by_char: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        by_char.setdefault(it.char, []).append(i)
    chars = [c for c, rows in by_char.items() if len(rows) >= min_items]
    return Pool(name, name, chars, [scripts_of[c] for c in chars], items,
                [by_char[c] for c in chars], source, images)  # fmt: skip


def glyph_pool(root: Path) -> Pool:
    """The glyph test subset under ``root`` (its cache's manifest): DataNotFoundError (how to
    build it) when the cache or a font file it records is missing."""
    images, char_idx, face_idx, manifest = read_cache(Path(root), DEFAULT_SIZE)
    faces, chars = manifest["faces"], manifest["chars"]
    subsets = manifest["design_subsets"]
    allowed = {i for i, f in enumerate(faces) if subsets.get(f["design"]) == "test"}
    wanted = [int(c) for c in np.unique(char_idx) if char_subset(chars[int(c)]) == "test"]
    kept, rows = select(char_idx, face_idx, faces, allowed, wanted)
    missing = sorted({faces[i]["path"] for i in allowed if not Path(faces[i]["path"]).is_file()})
    if missing:
        raise DataNotFoundError(
            f"{missing[0]} (a test font of the glyph cache) is missing ({len(missing)} files); "
            f"install the fonts of docs/glyphs.md and rebuild: {BUILD.format(root=root)}"
        )
    items = []
    for c, row in zip(kept, rows, strict=True):
        for i in row:
            f = faces[int(face_idx[i])]
            key = f"{f['family']}/{f['style']}"  # Face.key: the cache's seed
            items.append(Item(chars[c], f["design"], key, int(face_idx[i]),
                              seed_of(key, chars[c]), int(i)))  # fmt: skip
    scripts = {chars[c]: manifest["scripts"][c] for c in kept}
    return _pool("glyphs", items, scripts, GlyphSource(faces), images)


def glyph_pool_from_fonts(font_files: Sequence[Path], chars: str) -> Pool:
    """Glyph items of ``chars`` in the given font files (two faces per family, as the cache
    chooses them), without a cache: every face is one item of each character it maps."""
    faces: list[Face] = choose_faces([f for p in font_files for f in read_faces(Path(p))])
    items = [Item(c, f.design, f.key, i, seed_of(f.key, c))
             for c in chars for i, f in enumerate(faces) if ord(c) in f.cmap]  # fmt: skip
    return _pool("glyphs", items, {c: script_of(c) for c in chars},
                 GlyphSource([f.to_dict() for f in faces]))  # fmt: skip


def kanjivg_pool(root: Path) -> Pool:
    """KanjiVG's test characters by the cache's drawers (its manifest: the SVG folder, the
    number of drawers)."""
    path = kanjivg.cache_path(Path(root), DEFAULT_SIZE)
    if not path.is_file():
        raise DataNotFoundError(
            f"no KanjiVG cache at {path}; pip install kanjivg, then build it with "
            f"`{BUILD.format(root=root)} --kanjivg only`"
        )
    with np.load(path, allow_pickle=False) as z:
        manifest = json.loads(str(z["manifest"]))
        images = z["images"]
    folder = Path(manifest["source"])
    folder = folder if folder.is_dir() else kanjivg.svg_folder(Path(root))
    if folder is None:
        raise DataNotFoundError(f"KanjiVG's SVG folder {manifest['source']} is gone; pip "
                                "install kanjivg (or put its kanji/ folder under "
                                f"{Path(root) / 'kanjivg'})")  # fmt: skip
    files = kanjivg.characters(folder)
    drawers = int(manifest["drawers"])
    items, forms = [], {}
    for ci, c in enumerate(manifest["chars"]):
        if char_subset(c) != "test" or c not in files:
            continue
        got = [kanjivg.read_strokes(p) for p in files[c]]
        forms[c] = [f for f in got if f and all(len(s) for s in f)]
        for d in range(drawers):
            family = "Kaisho" if len(forms[c]) > 1 and d % 2 else "plain"
            items.append(Item(c, family, f"drawer {d}", d, seed_of("kanjivg", c, d),
                              ci * drawers + d))  # fmt: skip
    scripts = {c: script_of(c) for c in forms}
    return _pool("kanjivg", items, scripts, KanjiSource(forms),
                 images.reshape(-1, *images.shape[2:]))  # fmt: skip


class CanvasPen:
    """The window's ``DrawingCanvas`` (offscreen with QT_QPA_PLATFORM=offscreen), drawn on with
    mouse events at float positions (as a tablet gives them)."""

    def __init__(self, side: int = 400) -> None:
        from PySide6.QtWidgets import QApplication

        from metagui.ui.widgets.canvas import DrawingCanvas

        self.app = QApplication.instance() or QApplication([])
        self.canvas = DrawingCanvas()
        self.canvas.resize(side, side)

    def draw(self, strokes: Strokes, width: float) -> Drawing:
        from PySide6.QtCore import QEvent, QPointF, Qt
        from PySide6.QtGui import QMouseEvent

        c = self.canvas
        c.clear()
        c.set_pen_width(width)
        sq = c.square()
        left, top, w, h = sq.left(), sq.top(), sq.width(), sq.height()
        left_button, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
        mods = Qt.KeyboardModifier.NoModifier
        send = self.app.sendEvent

        def event(kind, p, button, buttons):
            return QMouseEvent(kind, p, p, button, buttons, mods)

        for stroke in strokes:
            pts = [QPointF(left + x * w, top + y * h) for x, y in stroke]
            send(c, event(QEvent.Type.MouseButtonPress, pts[0], left_button, left_button))
            for p in pts[1:]:
                send(c, event(QEvent.Type.MouseMove, p, none, left_button))
            send(c, event(QEvent.Type.MouseButtonRelease, pts[-1], left_button, none))
        return c.drawing()


def window_input(drawing: Drawing, spec: PreprocessSpec) -> torch.Tensor:
    """The model input the window makes of a canvas drawing: the example "Add to class" adds
    (``Example(drawing.preprocess(spec), ...)``), checked against the query path
    (``compute.query_tensor``)."""
    example = Example(drawing.preprocess(spec), "drawing", drawing, spec=spec)
    image = example.input(spec)
    if not torch.equal(image, query_tensor(drawing, spec)[0]):
        raise AssertionError("the support and query paths of the window disagree")
    return image


@dataclass
class Rendered:
    """Model inputs of rendered items: ``inputs[(dataset, item)][spec]``; ``cache_diff``: per
    dataset, each item's largest difference to its cached image (ink levels of 255);
    ``direct_diff``: the largest difference to the same strokes preprocessed without the canvas."""

    inputs: dict[tuple[str, int], dict[PreprocessSpec, torch.Tensor]] = field(default_factory=dict)
    cache_diff: dict[str, list[float]] = field(default_factory=dict)
    direct_diff: float = 0.0
    seconds: float = 0.0


def render(pool: Pool, wanted: Sequence[int], specs: Sequence[PreprocessSpec], pen: CanvasPen,
           done: Rendered, check_every: int = 25, progress: bool = True) -> Rendered:  # fmt: skip
    """Draw the ``wanted`` items of ``pool`` on the canvas once (skipping those in ``done``) and
    make each spec's input as the window does (every ``check_every``-th also compared with the
    strokes preprocessed without the canvas)."""
    import time

    start = time.perf_counter()
    todo = [i for i in dict.fromkeys(wanted) if (pool.dataset, i) not in done.inputs]
    diffs = done.cache_diff.setdefault(pool.dataset, [])
    for n, i in enumerate(tqdm(todo, desc=f"drawing {pool.dataset}", unit="drawing",
                               disable=not progress or not todo)):  # fmt: skip
        item = pool.items[i]
        strokes, width = pool.source.strokes(item)
        drawing = pen.draw(strokes, width)
        made = {spec: window_input(drawing, spec) for spec in specs}
        done.inputs[(pool.dataset, i)] = made
        if n % check_every == 0:
            direct = Drawing(tuple(tuple(s) for s in strokes), width).preprocess(specs[0])
            done.direct_diff = max(done.direct_diff, float((direct - made[specs[0]]).abs().max()))
        ink28 = next((t for s, t in made.items() if s == PreprocessSpec("ink", 28)), None)
        if pool.cache_images is not None and item.cache_row >= 0 and ink28 is not None:
            cached = torch.from_numpy(pool.cache_images[item.cache_row].astype(np.float32))
            diffs.append(float((ink28[0] * 255.0 - cached).abs().max()))
    done.seconds += time.perf_counter() - start
    return done
