"""Conversions between model images (tensors, ink = 1) and Qt images, and the class colours."""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPixmap

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


def thumbnail(image: torch.Tensor, side: int = 52) -> QPixmap:
    return QPixmap.fromImage(
        tensor_to_qimage(image).scaled(
            side,
            side,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    )
