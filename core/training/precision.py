"""Which precision trains faster on this machine: a few timed meta-steps of a copy of the learner
in float32 and under bfloat16 autocast, alternated so that both meet the same load.

bfloat16 convolutions are twice as fast as float32 on CPUs with AVX512-BF16 and slower on CPUs
without it; the window's live runs measure instead of assuming (``core.training.live``).
"""

from __future__ import annotations

import contextlib
import copy
import statistics
import time
from dataclasses import dataclass

import torch

from core.algorithms import Learner
from core.data.episodes import EpisodeSpec, EpisodeStream

#: Seed of the probe's own episodes (not the run's: the run's episode stream is untouched).
PROBE_SEED = 987_654


@dataclass(frozen=True)
class PrecisionProbe:
    """Median seconds per meta-step of each precision, and the faster one (None: float32)."""

    fp32: float
    bf16: float

    @property
    def faster(self) -> str | None:
        return "bf16" if self.bf16 < self.fp32 else None


def can_probe(learner: Learner, device: torch.device) -> bool:
    """bfloat16 autocast is an option: a CPU run of a learner whose update is a plain loss."""
    return (
        device.type == "cpu"
        and learner.cpu_bf16_ok
        and learner.mixed_precision_ok()
        and type(learner).meta_step is Learner.meta_step
    )


def probe_precision(
    learner: Learner, train_set, spec: EpisodeSpec, meta_batch: int = 1, rounds: int = 3
) -> PrecisionProbe:
    """Time ``rounds`` meta-steps per precision (after one warm-up each) on a copy of
    ``learner`` with its own optimiser and episodes; ``learner`` itself is not changed."""
    model = copy.deepcopy(learner).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    stream = EpisodeStream(train_set, spec, PROBE_SEED)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    try:
        for round_ in range(rounds + 1):
            for name in ("fp32", "bf16"):
                batch = [stream.next() for _ in range(meta_batch)]
                start = time.perf_counter()
                autocast = (
                    torch.autocast("cpu", dtype=torch.bfloat16)
                    if name == "bf16"
                    else contextlib.nullcontext()
                )
                with autocast:
                    loss = model.meta_loss(batch).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if round_:  # the first round warms up
                    times[name].append(time.perf_counter() - start)
    finally:
        stream.close()
    return PrecisionProbe(statistics.median(times["fp32"]), statistics.median(times["bf16"]))
