"""Open-set episodes: N-way K-shot tasks whose queries come from the support classes (known)
and from as many other classes of the same subset (unknown); the scores of every query.

One generator (``score_episodes``) serves the calibration on validation classes and the report
on test classes; ``summarize`` turns its records into AUROC, accept rates and accuracy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from core.algorithms import Learner, final_step
from core.data.base import FewShotDataset
from core.data.episodes import EpisodeSpec, episodes
from core.openset.score import all_scores, auroc


@dataclass(frozen=True)
class OpenSetSpec:
    """``ways`` known classes with ``shots`` support and ``queries`` query images each, plus
    ``unknown_ways`` classes whose ``queries`` images are queries only."""

    ways: int
    shots: int
    queries: int
    unknown_ways: int

    def episode_spec(self) -> EpisodeSpec:
        return EpisodeSpec(self.ways + self.unknown_ways, self.shots, self.queries)


@dataclass(frozen=True)
class EpisodeScores:
    """One episode: ``known`` ``(n_known, n_kinds)`` and ``unknown`` ``(n_unknown, n_kinds)``
    novelty scores (columns in ``kinds`` order); ``correct`` ``(n_known,)``: the known query's
    class was predicted."""

    index: int
    known: torch.Tensor
    unknown: torch.Tensor
    correct: torch.Tensor


def score_episodes(
    learner: Learner,
    dataset: FewShotDataset,
    spec: OpenSetSpec,
    count: int,
    seed: int,
    kinds: Sequence[str],
    device: torch.device | str = "cpu",
) -> Iterator[EpisodeScores]:
    """Adapt to the known classes of ``count`` seeded episodes and score every query."""
    learner.eval()
    kinds = tuple(kinds)
    for i, ep in enumerate(episodes(dataset, spec.episode_spec(), count, seed)):
        ep = ep.to(device)
        keep = ep.support_labels < spec.ways
        support, labels = ep.support[keep], ep.support_labels[keep]
        clf = final_step(learner.adapt(support, labels)).classifier
        scores, logits = all_scores(learner, clf, support, labels, ep.query, kinds)
        known = ep.query_labels < spec.ways
        correct = logits[known].argmax(1) == ep.query_labels[known]
        yield EpisodeScores(i, scores[known].cpu(), scores[~known].cpu(), correct.cpu())


@dataclass(frozen=True)
class Pooled:
    """Scores of all episodes pooled: ``known`` ``(n, n_kinds)``, ``unknown`` ``(m, n_kinds)``,
    ``correct`` ``(n,)``."""

    known: torch.Tensor
    unknown: torch.Tensor
    correct: torch.Tensor

    @classmethod
    def of(cls, records: Sequence[EpisodeScores]) -> Pooled:
        if not records:
            raise ValueError("no episodes were scored")
        return cls(
            torch.cat([r.known for r in records]),
            torch.cat([r.unknown for r in records]),
            torch.cat([r.correct for r in records]),
        )

    def auroc(self, column: int) -> float:
        return auroc(self.known[:, column], self.unknown[:, column])

    def threshold(self, column: int, true_accept_rate: float) -> float:
        """The score below which ``true_accept_rate`` of the known queries fall."""
        return float(torch.quantile(self.known[:, column].double(), true_accept_rate))


@dataclass(frozen=True)
class Report:
    """What a threshold does on a set of open-set episodes (fractions in 0..1).

    ``accuracy``: known queries classified right, no rejection; ``accuracy_with_rejection``:
    known queries classified right and accepted; ``cost``: share of the rightly classified
    known queries that get rejected; ``true_accept``: known queries accepted;
    ``unknown_rejected``: unknown queries rejected; ``open_accuracy``: all queries answered
    right (known: accepted and right class; unknown: rejected).
    """

    auroc: float
    threshold: float
    accuracy: float
    accuracy_with_rejection: float
    cost: float
    true_accept: float
    unknown_rejected: float
    open_accuracy: float
    known: int
    unknown: int


def report(pooled: Pooled, column: int, threshold: float) -> Report:
    known, unknown, correct = pooled.known[:, column], pooled.unknown[:, column], pooled.correct
    accepted = known <= threshold
    right = int(correct.sum())
    kept = int((correct & accepted).sum())
    rejected_unknown = int((unknown > threshold).sum())
    n, m = len(known), len(unknown)
    return Report(
        auroc=pooled.auroc(column),
        threshold=threshold,
        accuracy=right / n,
        accuracy_with_rejection=kept / n,
        cost=(right - kept) / max(right, 1),
        true_accept=float(accepted.float().mean()),
        unknown_rejected=rejected_unknown / m,
        open_accuracy=(kept + rejected_unknown) / (n + m),
        known=n,
        unknown=m,
    )
