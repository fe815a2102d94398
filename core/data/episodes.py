"""N-way K-shot Q-query episodes of any ``FewShotDataset``, drawn with a seeded generator.

An episode is first a *plan* (which classes, which flat item indices), drawn in the main process by
the generator; then the plan's items are decoded and normalised. With ``workers > 0`` a
``torch.utils.data.DataLoader`` decodes plans in order in worker processes, so the same seed gives
the same episodes whatever the number of workers. In-memory datasets (Omniglot, CIFAR-FS) are
always served in the main process: their items are an index, there is nothing to decode.

Classes with fewer than ``shots + queries`` images are left out of the episodes (``check_spec``
warns naming them); a ValueError says so when fewer than ``ways`` usable classes remain.
"""

from __future__ import annotations

import signal
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from core.data.base import FewShotDataset


@dataclass(frozen=True)
class Episode:
    """One few-shot task. Labels are ``0..n_way-1`` in class order, examples grouped by class.

    ``support``: float ``(n_way * n_shot, C, H, W)``, ``support_labels``: ``(n_way * n_shot,)``;
    ``query``: float ``(n_way * n_query, C, H, W)``, ``query_labels``: ``(n_way * n_query,)``;
    ``class_names``: the dataset's name of each episode class.
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


def fewer_shots(ep: Episode, generator: torch.Generator) -> Episode:
    """``ep`` with each class's support cut to its first ``k`` examples, ``k`` drawn uniformly
    from 1..shots by ``generator`` (one ``k`` for the whole episode); queries are kept."""
    shots = len(ep.support_labels) // ep.n_way
    k = int(torch.randint(1, shots + 1, (), generator=generator))
    if k == shots:
        return ep
    keep = torch.cat([(ep.support_labels == c).nonzero()[:k, 0] for c in range(ep.n_way)])
    return Episode(
        ep.support[keep], ep.support_labels[keep], ep.query, ep.query_labels, ep.class_names
    )


@dataclass(frozen=True)
class EpisodeSpec:
    """Shape of the episodes to sample.

    ``within_alphabet``: all classes of an episode from one group (Omniglot alphabet; Lake's
    benchmark); ``shared_drawers``: every class uses the same item positions (drawers), support
    from some and queries from others (Lake's protocol).
    """

    ways: int
    shots: int
    queries: int
    within_alphabet: bool = False
    shared_drawers: bool = False

    @property
    def per_class(self) -> int:
        return self.shots + self.queries


@dataclass(frozen=True)
class Plan:
    """Which items make an episode: ``classes`` ``(ways,)`` dataset class indices and ``index``
    ``(ways, shots + queries)`` flat item indices, support first in each row."""

    classes: torch.Tensor
    index: torch.Tensor
    shots: int


def _usable(ds: FewShotDataset, spec: EpisodeSpec) -> torch.Tensor:
    """Bool ``(n_classes,)``: classes with at least ``shots + queries`` items."""
    return ds.counts >= spec.per_class


def check_spec(ds: FewShotDataset, spec: EpisodeSpec) -> None:
    """Raise ValueError with a one-line reason when ``ds`` cannot provide ``spec`` episodes.

    Classes too small for ``spec`` are left out of the episodes, with a warning naming them.
    """
    if spec.ways < 2 or spec.shots < 1 or spec.queries < 0:
        raise ValueError("episodes need ways >= 2, shots >= 1 and queries >= 0")
    where = f"{ds.split}/{ds.subset}" if ds.name == "omniglot" else f"{ds.name} {ds.subset}"
    usable = _usable(ds, spec)
    largest = int(ds.counts.max()) if len(ds.counts) else 0
    if spec.per_class > largest:
        raise ValueError(
            f"shots + queries = {spec.per_class} exceeds the {largest} images per class of {where}"
        )
    small = [ds.names[int(c)] for c in torch.nonzero(~usable).flatten()]
    if small:
        shown = ", ".join(small[:5]) + (f" and {len(small) - 5} more" if len(small) > 5 else "")
        warnings.warn(
            f"{where}: leaving out {len(small)} class(es) with fewer than {spec.per_class} "
            f"images: {shown}",
            RuntimeWarning,
            stacklevel=2,
        )
    if spec.within_alphabet:
        if ds.group_ids is None:
            raise ValueError(f"within-alphabet episodes need alphabets; {ds.name} has none")
        per_group = torch.bincount(ds.group_ids[usable], minlength=len(ds.groups))
        most = int(per_group.max()) if len(per_group) else 0
        if spec.ways > most:
            raise ValueError(
                f"{spec.ways}-way within-alphabet episodes need an alphabet with "
                f"{spec.ways} characters; the largest in {where} has {most}"
            )
    elif spec.ways > int(usable.sum()):
        raise ValueError(
            f"{spec.ways}-way episodes need {spec.ways} classes with {spec.per_class} images; "
            f"{where} has {int(usable.sum())}"
        )


def sample_plan(ds: FewShotDataset, spec: EpisodeSpec, generator: torch.Generator) -> Plan:
    """Draw the classes and items of one episode; the same generator state gives the same plan.

    Calls on ``generator``: within-alphabet, ``randint`` (the group) then ``randperm`` of its
    usable classes, else ``randperm`` of the usable classes (``multinomial`` without replacement
    of their ``class_weights`` when the dataset has them: a mix); then ``randperm(smallest class)``
    (shared drawers) or ``rand(ways, largest usable class)`` argsorted per row, where positions
    past a smaller class's end are masked to sort last. On rectangular data (Omniglot) these are
    exactly the calls of earlier releases, so a seed gives the same episodes as before.
    """
    usable = _usable(ds, spec)
    if spec.within_alphabet:
        assert ds.group_ids is not None, "check_spec refuses within-alphabet without groups"
        counts = torch.bincount(ds.group_ids[usable], minlength=len(ds.groups))
        eligible = torch.nonzero(counts >= spec.ways).flatten()
        group = eligible[torch.randint(len(eligible), (1,), generator=generator)]
        pool = torch.nonzero((ds.group_ids == group) & usable).flatten()
        classes = pool[torch.randperm(len(pool), generator=generator)[: spec.ways]]
    else:
        pool = torch.nonzero(usable).flatten()
        weights = getattr(ds, "class_weights", None)
        if weights is not None:  # a mix: classes drawn by weight (its members balanced)
            pick = torch.multinomial(weights[pool].double(), spec.ways, generator=generator)
            classes = pool[pick]
        else:
            classes = pool[torch.randperm(len(pool), generator=generator)[: spec.ways]]
    sizes = ds.counts[classes]
    if spec.shared_drawers:
        pos = torch.randperm(int(sizes.min()), generator=generator)[: spec.per_class]
        pos = pos.expand(spec.ways, spec.per_class)
    else:
        width = int(ds.counts[usable].max())
        keys = torch.rand(spec.ways, width, generator=generator)
        if bool((sizes < width).any()):  # uneven classes: positions past a class's end go last
            keys = keys.masked_fill(torch.arange(width) >= sizes.unsqueeze(1), 2.0)
        pos = torch.argsort(keys, dim=1)[:, : spec.per_class]
    return Plan(classes, ds.offsets[classes].unsqueeze(1) + pos, spec.shots)


def assemble(ds: FewShotDataset, plan: Plan, items: torch.Tensor) -> Episode:
    """The episode of ``plan`` from its decoded items, uint8 ``(ways * (shots + queries), C, S,
    S)`` in plan order, normalised by ``ds.preprocess``."""
    ways, per_class = plan.index.shape
    x = ds.preprocess.normalize(items)
    picked = x.view(ways, per_class, *x.shape[1:])  # (ways, shots + queries, C, H, W)
    labels = torch.arange(ways)
    return Episode(
        support=picked[:, : plan.shots].reshape(-1, *x.shape[1:]),
        support_labels=labels.repeat_interleave(plan.shots),
        query=picked[:, plan.shots :].reshape(-1, *x.shape[1:]),
        query_labels=labels.repeat_interleave(per_class - plan.shots),
        class_names=tuple(ds.names[int(c)] for c in plan.classes),
    )


def build_episode(ds: FewShotDataset, plan: Plan) -> Episode:
    """The episode of ``plan``: items decoded and normalised by ``ds.preprocess``."""
    return assemble(ds, plan, ds.items(plan.index.reshape(-1)))


def sample_episode(ds: FewShotDataset, spec: EpisodeSpec, generator: torch.Generator) -> Episode:
    """Draw one episode; the same generator state gives the same episode."""
    return build_episode(ds, sample_plan(ds, spec, generator))


class _Decoder(Dataset):
    """Map-style dataset for the DataLoader: a plan in, its decoded uint8 items out (4x less to
    send between processes than the float episode, which the main process builds)."""

    def __init__(self, ds: FewShotDataset) -> None:
        self.ds = ds

    def __getitem__(self, plan: Plan) -> torch.Tensor:
        return self.ds.items(plan.index.reshape(-1))


class _Plans:
    """Iterable of plans drawn from ``generator`` (in the main process); ``drawn`` holds each plan
    handed out with the generator state after it, since the DataLoader draws ahead."""

    def __init__(
        self,
        ds: FewShotDataset,
        spec: EpisodeSpec,
        generator: torch.Generator,
        count: int | None = None,
    ) -> None:
        self.ds, self.spec, self.generator, self.count = ds, spec, generator, count
        self.drawn: deque[tuple[Plan, torch.Tensor]] = deque()

    def __iter__(self) -> Iterator[Plan]:
        i = 0
        while self.count is None or i < self.count:
            plan = sample_plan(self.ds, self.spec, self.generator)
            self.drawn.append((plan, self.generator.get_state()))
            yield plan
            i += 1


def _loader_iter(ds: FewShotDataset, plans: _Plans, workers: int) -> Iterator:
    """Worker processes decoding ``plans`` in order (persistent; items pinned with CUDA)."""
    loader = DataLoader(
        _Decoder(ds),
        batch_size=None,
        sampler=plans,
        num_workers=workers,
        persistent_workers=True,
        worker_init_fn=_leave_stopping_to_the_main_process,
        pin_memory=torch.cuda.is_available(),
    )
    return iter(loader)


def _leave_stopping_to_the_main_process(worker_id: int) -> None:
    """Ctrl+C reaches the whole process group; a worker ignores it and the main process, which
    finishes its step before stopping, shuts the workers down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _shutdown(it: Iterator | None) -> None:
    if it is not None and hasattr(it, "_shutdown_workers"):
        it._shutdown_workers()


def _use_workers(ds: FewShotDataset, workers: int) -> bool:
    if workers < 0:
        raise ValueError("workers must be 0 or more")
    return workers > 0 and not ds.in_memory


def episodes(
    ds: FewShotDataset, spec: EpisodeSpec, count: int, seed: int, workers: int = 0
) -> Iterator[Episode]:
    """A fixed, reproducible sequence of ``count`` episodes (evaluation and validation).

    ``workers``: DataLoader worker processes decoding lazy datasets (same episodes either way).
    """
    check_spec(ds, spec)
    generator = torch.Generator().manual_seed(seed)
    if not _use_workers(ds, workers):
        for _ in range(count):
            yield sample_episode(ds, spec, generator)
        return
    plans = _Plans(ds, spec, generator, count)
    it = _loader_iter(ds, plans, workers)
    try:
        for items in it:
            yield assemble(ds, plans.drawn.popleft()[0], items)
    finally:
        _shutdown(it)


class EpisodeStream:
    """Endless training episodes from ``seed``, resumable exactly.

    ``next()`` returns the next episode; ``state_dict()`` is the generator state right after the
    episode last returned (not after the plans the workers are decoding ahead), so
    ``load_state_dict`` continues with the very next episode. ``close()`` stops the workers.
    """

    def __init__(self, ds: FewShotDataset, spec: EpisodeSpec, seed: int, workers: int = 0) -> None:
        check_spec(ds, spec)
        self.ds, self.spec = ds, spec
        self.workers = workers if _use_workers(ds, workers) else 0
        self.generator = torch.Generator().manual_seed(seed)
        self._state = self.generator.get_state()
        self._plans: _Plans | None = None
        self._it: Iterator | None = None

    def next(self) -> Episode:
        """The next episode (float tensors on the CPU)."""
        if self.workers == 0:
            episode = sample_episode(self.ds, self.spec, self.generator)
            self._state = self.generator.get_state()
            return episode
        if self._it is None:
            self.generator.set_state(self._state)
            self._plans = _Plans(self.ds, self.spec, self.generator)
            self._it = _loader_iter(self.ds, self._plans, self.workers)
        items = next(self._it)
        assert self._plans is not None
        plan, self._state = self._plans.drawn.popleft()
        return assemble(self.ds, plan, items)

    __next__ = next

    def __iter__(self) -> EpisodeStream:
        return self

    def state_dict(self) -> dict:
        """``{"generator": ByteTensor}``: the state right after the episode last returned."""
        return {"generator": self._state.clone()}

    def load_state_dict(self, state: dict | torch.Tensor) -> None:
        """Continue from a ``state_dict()``: the next episode is the one that followed it.

        A bare generator state (ByteTensor, as earlier releases' training checkpoints hold) is
        accepted too.
        """
        self.close()
        tensor = state if isinstance(state, torch.Tensor) else state.get("generator")
        if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.uint8:
            raise ValueError("episode stream state holds no generator state")
        self._state = tensor.clone()
        self.generator.set_state(self._state)

    def close(self) -> None:
        """Stop the worker processes (episodes drawn ahead are dropped; the state is kept)."""
        _shutdown(getattr(self, "_it", None))
        self._it, self._plans = None, None

    def __enter__(self) -> EpisodeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
