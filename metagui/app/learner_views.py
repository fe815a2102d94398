"""What a learner shows beside its loss curve, computed on the model thread as numpy records:
MANN's memory (read and write weights over the slots while the support set is fed, and where
the query reads) and Siamese similarities (p(same) of the query to each support image).

Which view a learner has is declared by ``capabilities.live_view``; nothing here touches Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.algorithms.base import Classifier, Learner


@dataclass(frozen=True)
class MemoryView:
    """MANN's memory: row ``t`` of ``read``/``write`` ``(T, slots)`` is the support step ``t``
    (summed over the heads: a read row sums to the number of heads), ``labels`` ``(T,)`` the
    class fed at that step, ``usage`` ``(slots,)`` after the last step; ``query_read``
    ``(n_query, slots)`` where each query's step reads (None without a query)."""

    read: np.ndarray
    write: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    query_read: np.ndarray | None
    names: tuple[str, ...]
    heads: int


@dataclass(frozen=True)
class SimilarityView:
    """Siamese: ``similarity`` ``(n_query, n_support)`` p(same class) of each query to each
    support image (None without a query), ``labels`` ``(n_support,)`` their classes."""

    similarity: np.ndarray | None
    labels: np.ndarray
    names: tuple[str, ...]


LearnerView = MemoryView | SimilarityView


def learner_view(
    learner: Learner,
    classifier: Classifier,
    support_labels: torch.Tensor,
    names: tuple[str, ...],
    queries: torch.Tensor | None,
) -> LearnerView | None:
    """The view ``learner.capabilities.live_view`` names for ``classifier`` (adapted to a
    support set with ``support_labels``) and ``queries`` (preprocessed, on its device)."""
    kind = learner.capabilities.live_view
    with torch.no_grad():
        if kind == "memory":
            trace = classifier.trace
            labels = support_labels.cpu()[torch.tensor([s.index for s in trace])]
            reads = None
            if queries is not None:
                reads = classifier.read_weights(queries).sum(1).cpu().numpy()
            return MemoryView(
                read=torch.stack([s.read_weights.sum(0) for s in trace]).cpu().numpy(),
                write=torch.stack([s.write_weights.sum(0) for s in trace]).cpu().numpy(),
                labels=labels.numpy(),
                usage=trace[-1].usage.cpu().numpy(),
                query_read=reads,
                names=names,
                heads=int(trace[-1].read_weights.shape[0]),
            )
        if kind == "similarity":
            sims = None if queries is None else classifier.similarities(queries).cpu().numpy()
            return SimilarityView(sims, support_labels.cpu().numpy(), names)
    return None
