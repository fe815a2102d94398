"""Toy few-shot tasks for the learners' tests (imported by the test modules)."""

from __future__ import annotations

import torch

from core.data.episodes import Episode


def toy_episode(
    gen: torch.Generator,
    n_way: int = 3,
    shots: int = 1,
    queries: int = 3,
    size: int = 16,
    dtype: torch.dtype = torch.float32,
) -> Episode:
    """Classes differ by a bright square at a class-specific place, plus noise; images
    ``(n, 1, size, size)`` grouped by class."""

    def images(n_per: int) -> torch.Tensor:
        out = 0.3 * torch.rand(n_way * n_per, 1, size, size, generator=gen, dtype=dtype)
        for c in range(n_way):
            out[c * n_per : (c + 1) * n_per, :, 4 * c : 4 * c + 4, 2:8] += 1.0
        return out

    return Episode(
        images(shots),
        torch.arange(n_way).repeat_interleave(shots),
        images(queries),
        torch.arange(n_way).repeat_interleave(queries),
        tuple(f"c{i}" for i in range(n_way)),
    )
