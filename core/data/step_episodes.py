"""Training episodes addressed by ``(step, j)``: episode ``j`` of meta-step ``step`` is drawn from a
generator seeded by ``(seed, step, j)`` alone.

This is how several processes (``torchrun``) share one run: each rank draws only the episodes of
its share of the meta-batch, the union over ranks is the same whatever the world size, a run
resumes at a step with nothing else to restore, and worker processes may decode ahead freely.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from core.data.base import FewShotDataset
from core.data.episodes import Episode, EpisodeSpec, Plan, assemble, check_spec, sample_plan


def episode_generator(seed: int, step: int, j: int, stream: int = 0) -> torch.Generator:
    """The generator of episode ``j`` of meta-step ``step`` (independent streams per key;
    ``stream`` 0 draws the episode, 1 its augmentation, 2 its shot count: --vary-shots)."""
    state = np.random.SeedSequence([seed, step, j, stream]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


class _Items(Dataset):
    def __init__(self, ds: FewShotDataset) -> None:
        self.ds = ds

    def __getitem__(self, plan: Plan) -> torch.Tensor:
        return self.ds.items(plan.index.reshape(-1))


class _StepPlans:
    """Plans of episodes ``indices`` of every step from ``start`` on, in order."""

    def __init__(self, source: StepEpisodes, start: int) -> None:
        self.source, self.start = source, start

    def __iter__(self) -> Iterator[Plan]:
        step = self.start
        while True:
            for j in self.source.indices:
                yield self.source.plan(step, j)
            step += 1


class StepEpisodes:
    """Episodes ``indices`` (positions in the meta-batch) of each step, from ``seed``.

    ``for_step(step)`` returns them as a list. With ``workers > 0`` and a dataset decoded from
    files, DataLoader processes decode them ahead (pinned memory with CUDA); the episodes are the
    same for any worker count.
    """

    def __init__(
        self,
        ds: FewShotDataset,
        spec: EpisodeSpec,
        seed: int,
        indices: Sequence[int],
        workers: int = 0,
    ) -> None:
        check_spec(ds, spec)
        self.ds, self.spec, self.seed = ds, spec, seed
        self.indices = tuple(indices)
        self.workers = workers if not ds.in_memory else 0
        self._next_step: int | None = None
        self._it: Iterator | None = None

    def plan(self, step: int, j: int) -> Plan:
        return sample_plan(self.ds, self.spec, episode_generator(self.seed, step, j))

    def for_step(self, step: int) -> list[Episode]:
        """The episodes of ``step`` (float tensors on the CPU), in ``indices`` order."""
        if self.workers == 0:
            plans = [self.plan(step, j) for j in self.indices]
            return [assemble(self.ds, p, self.ds.items(p.index.reshape(-1))) for p in plans]
        if self._it is None or self._next_step != step:
            self.close()
            loader = DataLoader(
                _Items(self.ds),
                batch_size=None,
                sampler=_StepPlans(self, step),
                num_workers=self.workers,
                persistent_workers=True,
                pin_memory=torch.cuda.is_available(),
            )
            self._it = iter(loader)
        self._next_step = step + 1
        return [assemble(self.ds, self.plan(step, j), next(self._it)) for j in self.indices]

    def close(self) -> None:
        """Stop the worker processes (a later ``for_step`` starts them again)."""
        if self._it is not None and hasattr(self._it, "_shutdown_workers"):
            self._it._shutdown_workers()
        self._it = None
