"""Meta-training as a generator of ``TrainStep``/``Validation`` records (``Trainer.run``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from core.algorithms import Learner
from core.data.episodes import EpisodeSpec, EpisodeStream, check_spec
from core.evaluate import evaluate_iter, summarize
from core.training.config import TrainConfig


@dataclass(frozen=True)
class TrainStep:
    step: int
    loss: float
    accuracy: float
    lr: float


@dataclass(frozen=True)
class Validation:
    step: int
    accuracy: float
    ci95: float
    best: bool


def make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr)
    return torch.optim.Adam(params, lr=config.lr)


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer):
    if config.lr_schedule == "linear":
        # A closure over config.episodes: raising --episodes on --resume stretches the annealing.
        total = config.episodes
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total))
    return torch.optim.lr_scheduler.StepLR(optimizer, config.lr_step, config.lr_gamma)


class Trainer:
    """Meta-trains ``learner`` on episodes of ``train_set``, validating on ``val_set``.

    ``train_set``/``val_set``: datasets of ``core.data`` (any ``FewShotDataset``); ``workers``:
    DataLoader processes decoding the episodes (the episodes do not depend on it).
    """

    def __init__(
        self,
        config: TrainConfig,
        learner: Learner,
        train_set,
        val_set,
        device: torch.device,
        workers: int = 0,
    ) -> None:
        self.config = config
        self.learner = learner.to(device)
        self.train_set, self.val_set, self.device = train_set, val_set, device
        self.workers = workers
        self.train_spec = EpisodeSpec(config.ways, config.shots, config.queries)
        self.val_spec = EpisodeSpec(config.val_ways, config.val_shots, config.val_queries)
        check_spec(train_set, self.train_spec)
        check_spec(val_set, self.val_spec)
        self.optimizer = make_optimizer(config, learner.parameters())
        self.scheduler = make_scheduler(config, self.optimizer)
        self.stream = EpisodeStream(train_set, self.train_spec, config.seed, workers)
        self.step = 0
        self.best_accuracy = -1.0
        self.stopped_early = False  # set by run() when its deadline passed
        self.best_step = 0

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.stream.state_dict(),
            "best_accuracy": self.best_accuracy,
            "best_step": self.best_step,
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.config.lr_schedule == "linear":  # the annealing's length may have changed
            (rule,) = self.scheduler.lr_lambdas
            for group, base in zip(
                self.optimizer.param_groups, self.scheduler.base_lrs, strict=True
            ):
                group["lr"] = base * rule(self.scheduler.last_epoch)
        self.stream.load_state_dict(state["generator"])
        self.step = int(state["step"])
        self.best_accuracy = float(state["best_accuracy"])
        self.best_step = int(state["best_step"])

    def validate(self) -> tuple[float, float]:
        c = self.config
        results = evaluate_iter(
            self.learner,
            self.val_set,
            self.val_spec,
            c.val_episodes,
            c.seed + 1,
            self.device,
            workers=self.workers,
        )
        s = summarize([r.accuracy for r in results])
        return s.mean, s.ci95

    def run(self, deadline: float | None = None) -> Iterator[TrainStep | Validation]:
        """Train from the current step to ``config.episodes``, validating every ``val_every``.

        ``deadline`` (``time.monotonic()`` seconds): once passed, validate at the current step
        and stop (``stopped_early`` becomes True).
        """
        c = self.config
        self.stopped_early = False
        try:
            while self.step < c.episodes and not self.stopped_early:
                self.learner.train()
                batch = [self.stream.next().to(self.device) for _ in range(c.meta_batch)]
                lr = self.optimizer.param_groups[0]["lr"]
                out = self.learner.meta_step(batch, self.optimizer)
                self.scheduler.step()
                self.step += 1
                yield TrainStep(self.step, out.loss.item(), out.accuracy, lr)
                self.stopped_early = deadline is not None and time.monotonic() >= deadline
                if self.step % c.val_every == 0 or self.step == c.episodes or self.stopped_early:
                    acc, ci = self.validate()
                    best = acc > self.best_accuracy
                    if best:
                        self.best_accuracy, self.best_step = acc, self.step
                    yield Validation(self.step, acc, ci, best)
        finally:
            self.stream.close()
