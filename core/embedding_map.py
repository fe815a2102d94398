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


def has_map(learner: Learner) -> bool:
    """Whether ``embedding_map`` shows how ``learner`` classifies: it compares embeddings
    (declared by ``capabilities.embedding``); gradient learners classify with adapted weights."""
    return learner.capabilities.embedding


class EmbeddingMap(NamedTuple):
    """2-D coordinates: ``support`` ``(n_support, 2)``, ``centres`` ``(n_way, 2)`` (class means of
    the support embeddings), ``query`` ``(n_query, 2)`` or None; ``explained``: ``(2,)`` share of
    the support embeddings' variance along each axis."""

    support: torch.Tensor
    centres: torch.Tensor
    query: torch.Tensor | None
    explained: torch.Tensor


def embed(learner: Learner, images: torch.Tensor) -> torch.Tensor:
    """Embeddings ``(n, d)`` in the space the learner compares (its ``embed``: Matching's are
    unit-length, Relation's flattened feature maps)."""
    return learner.embed(images).flatten(1)


class Projection:
    """The PCA of one support set's embeddings; projects further images (queries) onto it.

    Fitting embeds the support set once; projecting a query then costs one forward pass of
    the query alone, which is what keeps the GUI's map live while the user draws.
    Axis signs are fixed (each axis points towards the support example with the largest
    coordinate magnitude on it), so the same support set always gives the same map.
    With fewer than three support examples the second axis (or both) may be all zeros.
    """

    @torch.no_grad()
    def __init__(self, learner: Learner, support: torch.Tensor, labels: torch.Tensor) -> None:
        n_way = check_support(support, labels)
        learner.eval()
        self.learner = learner
        emb = embed(learner, support).double()
        self.centre = emb.mean(0)
        centred = emb - self.centre
        _, sv, vh = torch.linalg.svd(centred, full_matrices=False)
        axes = emb.new_zeros(2, emb.shape[1])
        rank = int((sv > 1e-9 * sv.max()).sum()) if len(sv) else 0
        k = min(2, rank)
        axes[:k] = vh[:k]
        coords = centred @ axes.T
        pick = coords.abs().argmax(0)
        signs = torch.sign(coords[pick, torch.arange(2, device=emb.device)])
        signs[signs == 0] = 1.0
        self.axes = axes * signs.unsqueeze(1)
        variance = sv.pow(2)
        self.explained = emb.new_zeros(2)
        if float(variance.sum()) > 0:
            self.explained[:k] = variance[:k] / variance.sum()
        self.explained = self.explained.float()
        self.support = self._project(emb)
        self.centres = self._project(prototypes(emb, labels, n_way))

    def _project(self, emb: torch.Tensor) -> torch.Tensor:
        return ((emb.double() - self.centre) @ self.axes.T).float()

    @torch.no_grad()
    def project(self, images: torch.Tensor) -> torch.Tensor:
        """2-D coordinates ``(m, 2)`` of images ``(m, 1, H, W)``."""
        self.learner.eval()
        return self._project(embed(self.learner, images))

    def map(self, query: torch.Tensor | None = None) -> EmbeddingMap:
        return EmbeddingMap(
            support=self.support,
            centres=self.centres,
            query=None if query is None else self.project(query),
            explained=self.explained,
        )


def embedding_map(
    learner: Learner,
    support: torch.Tensor,
    labels: torch.Tensor,
    query: torch.Tensor | None = None,
) -> EmbeddingMap:
    """Project support ``(n, 1, H, W)`` with labels ``(n,)``, their class centres and ``query``
    ``(m, 1, H, W)`` onto the first two principal axes of the support embeddings (see
    ``Projection``)."""
    return Projection(learner, support, labels).map(query)
