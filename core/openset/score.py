"""How far a query is from every class of an adapted support set: the open-set scores.

Every score is a *novelty* score: higher means "further from every class", so a query is
rejected ("none of these") when its score exceeds a calibrated threshold (``calibration``).

| kind    | needs                  | score of a query                                       |
|---------|------------------------|--------------------------------------------------------|
| msp     | logits (every learner) | ``-max softmax probability`` (Hendrycks & Gimpel 2017) |
| energy  | logits (every learner) | ``-logsumexp(logits)`` (Liu et al. 2020)               |
| centre  | features (see below)   | distance to the nearest class centre / support spread  |
| nearest | features (see below)   | distance to the nearest support image / support spread |

The *support spread* is the mean distance between the class centres of the support set, so the
distance scores do not depend on the scale of a support set's embeddings (1-shot sets have no
within-class spread to normalise by). The features are ``learner.embed`` for learners that
declare ``capabilities.embedding`` (the space a metric learner compares in) and, for the gradient
learners, the adapted network's features (``FastClassifier.embed``: what its head sees, with the
support set's BatchNorm statistics). ``msp`` works for every learner (the fallback).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.algorithms.base import Classifier, Learner, check_support
from core.algorithms.gradient import FastClassifier, GradientLearner
from core.algorithms.protonet import prototypes

#: Every score kind, in the order the calibration tries them.
SCORES = ("msp", "energy", "centre", "nearest")
#: Kinds that need ``learner.embed`` (``capabilities.embedding``).
EMBEDDING_SCORES = ("centre", "nearest")


Features = Callable[[torch.Tensor], torch.Tensor]


def has_features(learner: Learner) -> bool:
    """Whether the distance scores apply: a declared embedding, or a gradient learner (whose
    adapted classifier gives its features)."""
    return learner.capabilities.embedding or isinstance(learner, GradientLearner)


def features_of(learner: Learner, classifier: Classifier | None) -> Features | None:
    """``images (n, C, H, W) -> (n, d)`` in the space the distance scores measure, or None."""
    if isinstance(classifier, FastClassifier):
        return classifier.embed
    if learner.capabilities.embedding:
        return learner.embed
    return None


def candidate_scores(learner: Learner) -> tuple[str, ...]:
    """The score kinds ``learner`` supports (the distance ones need features)."""
    if has_features(learner):
        return SCORES
    return tuple(kind for kind in SCORES if kind not in EMBEDDING_SCORES)


def check_kind(kind: str, learner: Learner) -> None:
    """ValueError with a one-line reason when ``learner`` cannot give score ``kind``."""
    if kind not in SCORES:
        raise ValueError(f"unknown open-set score {kind!r}; choose one of {', '.join(SCORES)}")
    if kind not in candidate_scores(learner):
        raise ValueError(
            f"the {kind!r} score needs features; {learner.name} has none (use msp or energy)"
        )


def logit_scores(kind: str, logits: torch.Tensor) -> torch.Tensor:
    """``(n,)`` novelty scores from ``logits`` ``(n, n_way)`` for kind msp or energy."""
    logits = logits.double()
    if kind == "msp":
        return -torch.softmax(logits, 1).max(1).values
    if kind == "energy":
        return -torch.logsumexp(logits, 1)
    raise ValueError(f"{kind!r} is not a logit score")


@dataclass(frozen=True)
class SupportGeometry:
    """A support set in the learner's embedding space: ``support`` ``(n_support, d)``,
    ``centres`` ``(n_way, d)`` (class means) and ``spread`` (mean distance between centres)."""

    support: torch.Tensor
    centres: torch.Tensor
    spread: float

    @classmethod
    @torch.no_grad()
    def fit(
        cls, features: Features, support: torch.Tensor, labels: torch.Tensor
    ) -> SupportGeometry:
        """Embed ``support`` ``(n_support, C, H, W)`` with labels ``(n_support,)``."""
        n_way = check_support(support, labels)
        emb = features(support).flatten(1).double()
        centres = prototypes(emb, labels, n_way)
        spread = float(torch.pdist(centres).mean())
        return cls(emb, centres, max(spread, 1e-12))

    def scores(self, kind: str, query_embeddings: torch.Tensor) -> torch.Tensor:
        """``(n,)`` novelty scores of ``query_embeddings`` ``(n, d)`` for kind centre or nearest."""
        q = query_embeddings.flatten(1).double()
        if kind == "centre":
            ref = self.centres
        elif kind == "nearest":
            ref = self.support
        else:
            raise ValueError(f"{kind!r} is not a distance score")
        return torch.cdist(q, ref).min(1).values / self.spread


@dataclass(frozen=True)
class Scorer:
    """One score kind fitted to one adapted support set; ``scores(queries, logits)``.

    Fitting embeds the support set once (distance kinds only); scoring a query then costs one
    forward pass of the query (distance kinds) or nothing beyond its logits.
    """

    kind: str
    features: Features | None
    geometry: SupportGeometry | None

    @classmethod
    def fit(
        cls,
        kind: str,
        learner: Learner,
        support: torch.Tensor,
        labels: torch.Tensor,
        classifier: Classifier | None = None,
    ) -> Scorer:
        """``classifier``: adapted to ``support`` (gradient learners' features come from it)."""
        check_kind(kind, learner)
        if kind not in EMBEDDING_SCORES:
            return cls(kind, None, None)
        learner.eval()
        features = features_of(learner, classifier)
        if features is None:
            raise ValueError(f"the {kind!r} score needs the adapted classifier of {learner.name}")
        return cls(kind, features, SupportGeometry.fit(features, support, labels))

    @torch.no_grad()
    def scores(self, queries: torch.Tensor, logits: torch.Tensor | None = None) -> torch.Tensor:
        """``(n,)`` novelty scores of ``queries`` ``(n, C, H, W)``; ``logits`` ``(n, n_way)``
        from the adapted classifier (needed by msp and energy)."""
        if self.geometry is None:
            if logits is None:
                raise ValueError(f"the {self.kind} score needs the query logits")
            return logit_scores(self.kind, logits)
        return self.geometry.scores(self.kind, self.features(queries))


@torch.no_grad()
def all_scores(
    learner: Learner,
    classifier: Classifier,
    support: torch.Tensor,
    labels: torch.Tensor,
    queries: torch.Tensor,
    kinds: tuple[str, ...],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores of every kind in ``kinds`` for ``queries`` ``(n, C, H, W)``: ``(n, len(kinds))``,
    and the classifier's logits ``(n, n_way)``. Embeds support and queries once."""
    logits = classifier.logits(queries)
    geometry = emb = None
    if any(kind in EMBEDDING_SCORES for kind in kinds):
        features = features_of(learner, classifier)
        geometry = SupportGeometry.fit(features, support, labels)
        emb = features(queries)
    columns = [
        geometry.scores(kind, emb) if kind in EMBEDDING_SCORES else logit_scores(kind, logits)
        for kind in kinds
    ]
    return torch.stack(columns, 1), logits


def auroc(known: torch.Tensor, unknown: torch.Tensor) -> float:
    """Area under the ROC curve of novelty scores: the probability that an ``unknown`` query
    ``(m,)`` scores higher than a ``known`` one ``(n,)`` (ties count one half)."""
    if len(known) == 0 or len(unknown) == 0:
        raise ValueError("AUROC needs known and unknown queries")
    x = torch.cat([known, unknown]).double()
    values, order = x.sort()
    _, inverse, counts = torch.unique_consecutive(values, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    average = ends - (counts.double() - 1) / 2  # 1-based average rank of each tie group
    ranks = torch.empty_like(x)
    ranks[order] = average[inverse]
    n, m = len(known), len(unknown)
    u = float(ranks[n:].sum()) - m * (m + 1) / 2
    return u / (n * m)
