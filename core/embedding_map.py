"""A 2-D map of a metric learner's embedding space (for the GUI's live embedding map).

The projection is PCA fitted on the support embeddings only; class centres and query images are
projected onto it. So the map of a support set stays put while the user draws the query, and the
query dot moves between fixed class clusters.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from core.algorithms.base import Learner, check_support
from core.algorithms.protonet import prototypes

#: Learners that classify by comparing embeddings, so that a map of the embedding space shows
#: how they decide (gradient learners classify with adapted weights instead).
METRIC_LEARNERS = ("protonet", "matching", "relation")


def has_map(learner: Learner) -> bool:
    """Whether ``embedding_map`` shows how ``learner`` classifies."""
    return learner.name in METRIC_LEARNERS


class EmbeddingMap(NamedTuple):
    """2-D coordinates: ``support`` ``(n_support, 2)``, ``centres`` ``(n_way, 2)`` (class means of
    the support embeddings), ``query`` ``(n_query, 2)`` or None; ``explained``: ``(2,)`` share of
    the support embeddings' variance along each axis."""

    support: torch.Tensor
    centres: torch.Tensor
    query: torch.Tensor | None
    explained: torch.Tensor


def embed(learner: Learner, images: torch.Tensor) -> torch.Tensor:
    """Embeddings ``(n, d)`` in the space the learner compares: its ``embed`` method when it has
    one (Matching: unit-length; Relation: flattened feature maps), else its ``backbone``."""
    fn = getattr(learner, "embed", None) or learner.backbone
    return fn(images).flatten(1)


@torch.no_grad()
def embedding_map(
    learner: Learner,
    support: torch.Tensor,
    labels: torch.Tensor,
    query: torch.Tensor | None = None,
) -> EmbeddingMap:
    """Project support ``(n, 1, H, W)`` with labels ``(n,)``, their class centres and ``query``
    ``(m, 1, H, W)`` onto the first two principal axes of the support embeddings.

    Axis signs are fixed (each axis points towards the support example with the largest
    coordinate magnitude on it), so repeated calls on the same support set draw the same map.
    With fewer than three support examples the second axis (or both) may be all zeros.
    """
    n_way = check_support(support, labels)
    learner.eval()
    emb = embed(learner, support).double()
    centre = emb.mean(0)
    centred = emb - centre
    _, sv, vh = torch.linalg.svd(centred, full_matrices=False)
    axes = emb.new_zeros(2, emb.shape[1])
    rank = int((sv > 1e-9 * sv.max()).sum()) if len(sv) else 0
    k = min(2, rank)
    axes[:k] = vh[:k]
    coords = centred @ axes.T
    pick = coords.abs().argmax(0)
    signs = torch.sign(coords[pick, torch.arange(2, device=emb.device)])
    signs[signs == 0] = 1.0
    axes = axes * signs.unsqueeze(1)
    variance = sv.pow(2)
    explained = emb.new_zeros(2)
    if float(variance.sum()) > 0:
        explained[:k] = variance[:k] / variance.sum()

    def project(x: torch.Tensor) -> torch.Tensor:
        return ((x - centre) @ axes.T).float()

    query_2d = None if query is None else project(embed(learner, query).double())
    return EmbeddingMap(
        support=project(emb),
        centres=project(prototypes(emb, labels, n_way)),
        query=query_2d,
        explained=explained.float(),
    )
