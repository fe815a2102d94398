"""The gradient learners' classifier head and per-task loss.

The head is one learned row ``(1, d)`` and bias ``(1,)`` repeated ``n_way`` times ("unicorn"
head, Ye & Chao 2022; zero-initialised as in the "zeroing trick" of Kao et al. 2022): it serves
any number of classes and is invariant to the order of the classes. Fast weights carry a leading
task dimension ``T``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

HEAD_W, HEAD_B = "head.weight", "head.bias"


def head_logits(params: Mapping[str, torch.Tensor], feats: torch.Tensor) -> torch.Tensor:
    """Logits ``(T, n, n_way)`` of embeddings ``(T, n, d)``.

    The head is ``params[HEAD_W]`` ``(T, n_way, d)`` and ``params[HEAD_B]`` ``(T, n_way)``.
    """
    return torch.baddbmm(params[HEAD_B].unsqueeze(1), feats, params[HEAD_W].transpose(1, 2))


def task_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over tasks of each task's mean cross-entropy; logits ``(T, n, W)``, labels ``(T, n)``.

    Summing (not averaging) keeps each task's gradient w.r.t. its own fast weights unscaled.
    """
    n_way = logits.shape[-1]
    return (
        F.cross_entropy(logits.reshape(-1, n_way), labels.reshape(-1), reduction="sum")
        / (labels.shape[1])
    )


def correct(logits: torch.Tensor, labels: torch.Tensor) -> int:
    """Number of rows of ``logits`` ``(..., W)`` whose argmax is the label ``(...)``."""
    return int((logits.argmax(-1) == labels).sum())
