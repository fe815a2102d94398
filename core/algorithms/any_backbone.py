"""The gradient learners' forward pass through any backbone module (the generic path).

``module_features`` runs an ``nn.Module`` backbone built with ``norm="support"`` under fast
weights through ``torch.func.functional_call``, one task after the other (never ``vmap``: its
batch-norm rule gives wrong second-order gradients, see docs/ARCHITECTURE.md). Fast weights are
the learner's parameter dict with a leading task dimension ``T``; the backbone's entries are
named ``backbone.<name in the module>``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from core.models.batchnorm import support_statistics

PREFIX = "backbone."


def module_features(
    backbone: nn.Module,
    params: Mapping[str, torch.Tensor],
    images: torch.Tensor,
    n_stats: int | None = None,
) -> torch.Tensor:
    """Embeddings ``(T, n, d)`` of ``images`` ``(T, n, C, H, W)``, task ``t`` under the weights
    ``params[k][t]``; BatchNorm uses the statistics of each task's first ``n_stats`` images (all
    if None)."""
    names = [k for k in params if k.startswith(PREFIX)]
    out = []
    with support_statistics(n_stats):
        for t in range(images.shape[0]):
            weights = {k[len(PREFIX) :]: params[k][t] for k in names}
            out.append(torch.func.functional_call(backbone, weights, (images[t],), strict=True))
    return torch.stack(out)
