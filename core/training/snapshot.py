"""The last completed meta-step, copied aside, so that a run can be saved at that step from any
thread while the next step (or an evaluation) is still computing: ``core.training.live`` stops
within a fraction of a second however long a step takes."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from core.training.sinks import RunWriter
from core.training.trainer import Trainer


@dataclass(frozen=True)
class FrozenLearner:
    """What ``save_checkpoint`` reads of a learner: its name, config and weights."""

    name: str
    config: Any
    weights: dict

    def state_dict(self) -> dict:
        return self.weights


@dataclass(frozen=True)
class StepSnapshot:
    """What ``RunWriter.save`` reads of a trainer, at one completed step (``seconds``: the
    run's training clock then)."""

    step: int
    learner: FrozenLearner
    state: dict
    seconds: float

    def state_dict(self) -> dict:
        return self.state


def snapshot(trainer: Trainer, seconds: float) -> StepSnapshot:
    """Copies of the trainer's weights and training state now (milliseconds for a Conv-4)."""
    learner = trainer.learner
    weights = {k: v.detach().clone() for k, v in learner.state_dict().items()}
    frozen = FrozenLearner(learner.name, learner.config, weights)
    return StepSnapshot(trainer.step, frozen, copy.deepcopy(trainer.state_dict()), seconds)


def save_snapshot(
    writer: RunWriter, snap: StepSnapshot, name: str, metrics: dict, with_state: bool
) -> None:
    """``writer.save`` of the snapshot instead of the live trainer (same files, same metadata)."""
    frozen = copy.copy(writer)
    frozen.trainer = snap
    frozen.save(name, metrics, with_state)
