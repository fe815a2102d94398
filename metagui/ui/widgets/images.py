"""Conversions between model images (tensors, ink = 1) and Qt images, and the class colours."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPixmap

from metagui.app.session import Example

if TYPE_CHECKING:
    import torch

#: One colour per class position (used by the class rows and the probability bars).
CLASS_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)


def class_colour(index: int) -> QColor:
    return QColor(CLASS_COLOURS[index % len(CLASS_COLOURS)])


def tensor_to_qimage(image: torch.Tensor) -> QImage:
    """``(1, H, W)`` float ink = 1 -> grayscale QImage, black ink on white (what the model sees)."""
    arr = image.detach().cpu().reshape(image.shape[-2], image.shape[-1]).numpy()
    gray = np.ascontiguousarray(((1.0 - np.clip(arr, 0.0, 1.0)) * 255).astype(np.uint8))
    h, w = gray.shape
    return QImage(gray.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def picture_to_qimage(picture: Image.Image) -> QImage:
    """A decoded file as a QImage in its own colours (transparency on white)."""
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        picture = Image.new("RGBA", rgba.size, "white")
        picture.alpha_composite(rgba)
    rgb = np.ascontiguousarray(np.asarray(picture.convert("RGB")))
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def example_qimage(example: Example) -> QImage:
    """What an example looks like: the model input of a drawing checkpoint as the model sees it
    (black ink on white); for a photo checkpoint, the picture of a file in its own colours or
    the drawing as drawn."""
    if example.spec is None or example.spec.kind == "ink":
        return tensor_to_qimage(example.image)
    if example.picture is not None:
        return picture_to_qimage(example.picture)
    if example.drawing is not None:
        return picture_to_qimage(example.drawing.raster())
    raise ValueError(f"{example.source}: no picture to show")


def thumbnail(example: Example, side: int = 52) -> QPixmap:
    return QPixmap.fromImage(
        example_qimage(example).scaled(
            side,
            side,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    )
