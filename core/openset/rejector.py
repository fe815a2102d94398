"""A calibration applied to one adapted support set: which queries are "none of these"."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.algorithms.base import Classifier, Learner
from core.algorithms.gradient import FastClassifier
from core.openset.calibration import Calibration
from core.openset.score import Scorer


@dataclass(frozen=True)
class Rejector:
    """``calibration``'s score fitted to a support set, with the threshold for its shot count
    (``shots``: mean support examples per class)."""

    calibration: Calibration
    scorer: Scorer
    shots: float

    @classmethod
    def fit(
        cls,
        calibration: Calibration,
        learner: Learner,
        support: torch.Tensor,
        labels: torch.Tensor,
        classifier: Classifier,
    ) -> Rejector:
        """For support ``(n_support, C, H, W)`` with labels ``(n_support,)`` and the
        ``classifier`` adapted to it."""
        scorer = Scorer.fit(calibration.score, learner, support, labels, classifier)
        shots = len(labels) / int(labels.max() + 1)
        return cls(calibration, scorer, shots)

    @property
    def threshold(self) -> float:
        return self.calibration.threshold_for(self.shots)

    @torch.no_grad()
    def decide(
        self, queries: torch.Tensor, classifier: Classifier
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(n, n_way)`` of ``queries`` ``(n, C, H, W)`` under ``classifier`` (the one
        fitted to) and which are rejected ``(n,)``; one forward pass for a gradient learner's
        distance score (its features give the logits too)."""
        geometry = self.scorer.geometry
        if geometry is not None and isinstance(classifier, FastClassifier):
            features = classifier.embed(queries)
            logits = classifier.head(features)
            scores = geometry.scores(self.scorer.kind, features)
        else:
            logits = classifier.logits(queries)
            scores = self.scorer.scores(queries, logits)
        return logits, self.calibration.reject(scores, self.shots)

    @torch.no_grad()
    def reject(
        self,
        queries: torch.Tensor,
        probs: torch.Tensor | None = None,
        classifier: Classifier | None = None,
    ) -> torch.Tensor | None:
        """Bool ``(n,)`` for ``queries`` ``(n, C, H, W)``; ``probs`` ``(n, n_way)`` (enough for
        msp) or ``classifier`` (energy needs its logits). None when the score cannot be
        computed from what was given (energy without the classifier)."""
        kind, logits = self.scorer.kind, None
        if self.scorer.geometry is None:
            if kind == "msp" and probs is not None:
                logits = torch.log(probs.double().clamp_min(1e-300))
            elif classifier is not None:
                logits = classifier.logits(queries)
            else:
                return None
        scores = self.scorer.scores(queries, logits)
        return self.calibration.reject(scores, self.shots)
