"""N-way K-shot Q-query episodes as tensors, drawn with an explicit seeded ``torch.Generator``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from core.data.splits import ClassBank


@dataclass(frozen=True)
class Episode:
    """One few-shot task. Labels are ``0..n_way-1`` in class order, examples grouped by class.

    ``support``: float ``(n_way * n_shot, 1, H, W)``, ``support_labels``: ``(n_way * n_shot,)``;
    ``query``: float ``(n_way * n_query, 1, H, W)``, ``query_labels``: ``(n_way * n_query,)``;
    ``class_names``: the bank's name of each episode class.
    """

    support: torch.Tensor
    support_labels: torch.Tensor
    query: torch.Tensor
    query_labels: torch.Tensor
    class_names: tuple[str, ...]

    @property
    def n_way(self) -> int:
        return len(self.class_names)

    def to(self, device: torch.device | str) -> Episode:
        return Episode(
            self.support.to(device),
            self.support_labels.to(device),
            self.query.to(device),
            self.query_labels.to(device),
            self.class_names,
        )


@dataclass(frozen=True)
class EpisodeSpec:
    """Shape of the episodes to sample.

    ``within_alphabet``: all classes of an episode from one alphabet (Lake's benchmark);
    ``shared_drawers``: every class uses the same drawers, support from some and queries from
    others (Lake's protocol: one drawer's images as support, another's as queries).
    """

    ways: int
    shots: int
    queries: int
    within_alphabet: bool = False
    shared_drawers: bool = False


def check_spec(bank: ClassBank, spec: EpisodeSpec) -> None:
    """Raise ValueError with a one-line reason when ``bank`` cannot provide ``spec`` episodes."""
    if spec.ways < 2 or spec.shots < 1 or spec.queries < 0:
        raise ValueError("episodes need ways >= 2, shots >= 1 and queries >= 0")
    n_drawers = bank.images.shape[1]
    if spec.shots + spec.queries > n_drawers:
        raise ValueError(
            f"shots + queries = {spec.shots + spec.queries} exceeds the {n_drawers} "
            "drawings per class"
        )
    if spec.within_alphabet:
        largest = int(torch.bincount(bank.alphabet_ids).max())
        if spec.ways > largest:
            raise ValueError(
                f"{spec.ways}-way within-alphabet episodes need an alphabet with "
                f"{spec.ways} characters; the largest in {bank.split}/{bank.subset} has {largest}"
            )
    elif spec.ways > bank.n_classes:
        raise ValueError(
            f"{spec.ways}-way episodes need {spec.ways} classes; "
            f"{bank.split}/{bank.subset} has {bank.n_classes}"
        )


def sample_episode(bank: ClassBank, spec: EpisodeSpec, generator: torch.Generator) -> Episode:
    """Draw one episode; the same generator state gives the same episode."""
    if spec.within_alphabet:
        counts = torch.bincount(bank.alphabet_ids, minlength=len(bank.alphabets))
        eligible = torch.nonzero(counts >= spec.ways).flatten()
        alphabet = eligible[torch.randint(len(eligible), (1,), generator=generator)]
        pool = torch.nonzero(bank.alphabet_ids == alphabet).flatten()
        classes = pool[torch.randperm(len(pool), generator=generator)[: spec.ways]]
    else:
        classes = torch.randperm(bank.n_classes, generator=generator)[: spec.ways]
    n_drawers = bank.images.shape[1]
    per_class = spec.shots + spec.queries
    if spec.shared_drawers:
        drawers = torch.randperm(n_drawers, generator=generator)[:per_class].expand(
            spec.ways, per_class
        )
    else:
        drawers = torch.argsort(torch.rand(spec.ways, n_drawers, generator=generator), dim=1)
        drawers = drawers[:, :per_class]
    picked = bank.images[classes.unsqueeze(1), drawers].float().div_(255.0)
    # picked: (ways, shots + queries, 1, H, W)
    labels = torch.arange(spec.ways)
    shape = picked.shape[2:]
    return Episode(
        support=picked[:, : spec.shots].reshape(-1, *shape),
        support_labels=labels.repeat_interleave(spec.shots),
        query=picked[:, spec.shots :].reshape(-1, *shape),
        query_labels=labels.repeat_interleave(spec.queries),
        class_names=tuple(bank.names[int(c)] for c in classes),
    )


def episodes(bank: ClassBank, spec: EpisodeSpec, count: int, seed: int) -> Iterator[Episode]:
    """A fixed, reproducible sequence of ``count`` episodes (evaluation and validation)."""
    check_spec(bank, spec)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(count):
        yield sample_episode(bank, spec, generator)
