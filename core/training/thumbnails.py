"""A small PNG picture of one training episode: its support images on top, a few of its queries
below, one column per class (the first ``columns`` classes of the episode)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

#: Pixels per thumbnail and the gap between them.
CELL, GAP = 40, 3


def _picture(image: torch.Tensor, ink: bool) -> np.ndarray:
    """``(C, H, W)`` model input -> ``(CELL, CELL, 3)`` uint8, stretched to its own range; ink
    drawings (ink = high values) as black ink on white."""
    x = image.detach().float().cpu()
    x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-6)
    if ink:
        x = 1 - x
    x = x.expand(3, *x.shape[1:]) if x.shape[0] == 1 else x[:3]
    pixels = (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return np.asarray(Image.fromarray(pixels).resize((CELL, CELL), Image.Resampling.BILINEAR))


def episode_grid(episode, ink: bool, columns: int = 10, query_rows: int = 2) -> Image.Image:
    """The support (one row per shot) and ``query_rows`` queries of the first ``columns``
    classes of ``episode`` (a ``core.data.episodes.Episode``; examples grouped by class)."""
    ways = episode.n_way
    shots, queries = len(episode.support_labels) // ways, len(episode.query_labels) // ways
    cols, q_rows = min(columns, ways), min(query_rows, queries)
    rows = shots + q_rows
    height = rows * (CELL + GAP) + GAP + (2 * GAP if q_rows else 0)  # a wider gap before queries
    canvas = np.full((height, cols * (CELL + GAP) + GAP, 3), 255, np.uint8)
    canvas[:, :] = (235, 238, 242)
    for c in range(cols):
        cells = [episode.support[c * shots + s] for s in range(shots)]
        cells += [episode.query[c * queries + q] for q in range(q_rows)]
        for r, image in enumerate(cells):
            top = GAP + r * (CELL + GAP) + (2 * GAP if r >= shots else 0)
            left = GAP + c * (CELL + GAP)
            canvas[top : top + CELL, left : left + CELL] = _picture(image, ink)
    return Image.fromarray(canvas)


def write_grid(episode, path: Path, ink: bool) -> None:
    """Write the episode's picture to ``path`` atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    episode_grid(episode, ink).save(tmp, format="PNG")
    os.replace(tmp, path)
