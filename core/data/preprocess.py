"""The ONE preprocessing function shared by dataset images, dropped files and canvas drawings.

Any image (any size; modes 1, L, P, RGB, RGBA, LA, I;16, I, F; dark ink on a light background or
light ink on a dark one) becomes a float tensor of shape ``(1, size, size)`` in ``[0, 1]`` with
ink = 1 and background = 0: the ink's bounding box is centred and scaled to fill ``FILL`` of the
square, keeping its aspect ratio (as MNIST does), so a small character in a large photo and a
character drawn off-centre on the canvas look to the model like an Omniglot character.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

#: Version of the preprocessing; stored in checkpoints and in the decoded-data cache key.
PREPROCESS_VERSION = 1
#: Model input side in pixels.
DEFAULT_SIZE = 28
#: Fraction of the output square that the longer side of the ink bounding box fills.
FILL = 0.8
#: A pixel counts as ink for the bounding box when its ink value exceeds this.
INK_THRESHOLD = 0.25
#: Images with more pixels than this are refused (decompression bombs, huge scans).
MAX_PIXELS = 64_000_000
#: Side of the canvas that drawings are rasterised on: Omniglot's native 105 x 105.
CANVAS_SIZE = 105


class ImageError(ValueError):
    """An input file is not a usable image; the message names the file."""


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file; raise ImageError naming the file when it is not one."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(
                    f"{path}: image is too large ({img.width}x{img.height}); "
                    f"at most {MAX_PIXELS:,} pixels"
                )
            img.load()
            return _upright(img)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: image is too large; at most {MAX_PIXELS:,} pixels") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied (not readable by this user)") from None
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageError(f"{path}: not a readable image (corrupt or unsupported format)") from None


def _upright(img: Image.Image) -> Image.Image:
    """A decoded copy of ``img`` turned as its EXIF orientation says, as every image viewer
    shows it (a phone photo taken sideways); unchanged when its EXIF is absent or damaged."""
    try:
        return ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, struct.error):
        return img.copy()


def _to_gray(img: Image.Image) -> np.ndarray:
    """Grayscale float array in [0, 1] (1 = white), alpha composited onto the right background."""
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16"):
            arr = arr / 65535.0
        else:
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        return np.clip(arr, 0.0, 1.0)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255.0
        alpha = rgba[..., 3]
        lum = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
        opaque = alpha > 0.5
        if alpha.min() < 0.99 and opaque.any() and not opaque.all():
            # Strokes painted on a transparent layer: put them on the background that contrasts.
            background = 1.0 if lum[opaque].mean() < 0.5 else 0.0
            return lum * alpha + background * (1.0 - alpha)
        return lum
    return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def ink_map(img: Image.Image) -> np.ndarray:
    """Ink intensity in [0, 1] at the image's own resolution (ink = 1), whatever its polarity.

    The background is the median of the border pixels: light borders mean dark ink on light paper.
    """
    gray = _to_gray(img)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return 1.0 - gray if np.median(border) >= 0.5 else gray


def preprocess_image(img: Image.Image, size: int = DEFAULT_SIZE) -> torch.Tensor:
    """Map any PIL image to the model input: float32 tensor ``(1, size, size)``, ink = 1.

    An image with no ink at all (blank) becomes all zeros.
    """
    ink = ink_map(img)
    ys, xs = np.nonzero(ink > INK_THRESHOLD)
    if len(ys) == 0:
        return torch.zeros(1, size, size)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = int(np.ceil(max(bottom - top, right - left) / FILL))
    y0 = (top + bottom - side) // 2
    x0 = (left + right - side) // 2
    # Crop a square around the ink's centre; outside the image counts as background (0).
    pad = max(0, -y0, -x0, y0 + side - ink.shape[0], x0 + side - ink.shape[1])
    padded = np.pad(ink, pad) if pad else ink
    square = padded[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
    ink_img = Image.fromarray(square.astype(np.float32), mode="F")
    out = ink_img.resize((size, size), Image.Resampling.BOX)
    arr = np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)
    if arr.max() > 0:
        arr = arr / arr.max()
    return torch.from_numpy(arr.copy()).unsqueeze(0)


def preprocess_file(path: str | os.PathLike, size: int = DEFAULT_SIZE) -> torch.Tensor:
    """Load an image file and preprocess it; raise ImageError naming the file when unusable."""
    return preprocess_image(load_image(path), size)


Stroke = Sequence[tuple[float, float]]


def rasterize_strokes(
    strokes: Sequence[Stroke], width: float, extent: float, canvas: int = CANVAS_SIZE
) -> Image.Image:
    """Draw pen strokes as black ink on white, like an Omniglot image.

    ``strokes``: sequences of ``(x, y)`` points in a square drawing area of side ``extent``;
    ``width``: pen width in the same units. Returns a grayscale image ``canvas`` pixels square.
    """
    scale = canvas / float(extent)
    img = Image.new("L", (canvas, canvas), 255)
    draw = ImageDraw.Draw(img)
    w = max(1.0, width * scale)
    for stroke in strokes:
        pts = [(x * scale, y * scale) for x, y in stroke]
        if len(pts) > 1:
            draw.line(pts, fill=0, width=round(w), joint="curve")
        for x, y in pts:  # round caps and joints, and single-point dots
            r = w / 2.0
            draw.ellipse((x - r, y - r, x + r, y + r), fill=0)
    return img
