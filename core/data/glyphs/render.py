"""Drawing a character as the canvas pen would: the glyph's outline thinned to its skeleton,
jittered by a seeded hand and redrawn with ``rasterize_strokes`` at the canvas pen width."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch

from core.data.preprocess import CANVAS_SIZE, DEFAULT_SIZE, preprocess_image, rasterize_strokes

#: The canvas pen: 5 px of the 105 px canvas (``DrawingCanvas.DEFAULT_WIDTH``).
PEN_WIDTH = 5.0
#: Longer side of a character as drawn on the canvas, in canvas pixels (most of the canvas).
DRAWN_SIDE = 88.0
#: Font size the outlines are rendered at before thinning (pixels per em).
RENDER_PX = 72


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
