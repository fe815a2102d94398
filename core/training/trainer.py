"""Meta-training as a generator of ``TrainStep``/``Validation`` records (``Trainer.run``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from core.algorithms import Learner
from core.data.augment import augment_episode
from core.data.base import on_device
from core.data.episodes import EpisodeSpec, EpisodeStream, check_spec, fewer_shots
from core.data.step_episodes import StepEpisodes, episode_generator
from core.evaluate import evaluate_iter, summarize
from core.training import distributed
from core.training.config import TrainConfig
from core.training.distributed import AllReduceOptimizer, DistContext
from core.training.init_backbone import backbone_of

#: ``--amp`` choices and their dtypes.
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


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


def param_groups(config: TrainConfig, learner: Learner) -> list[dict]:
    """The learner's parameters as optimiser groups, the full rate last: with ``--backbone-lr``
    below 1, its backbone's at that fraction of ``--lr``; those of ``learner.lr_scales()`` at
    their multiple of it (the step schedule scales every group)."""
    scales = learner.lr_scales()
    backbone = backbone_of(learner)
    slow = set()
    if config.backbone_lr != 1 and isinstance(backbone, torch.nn.Module):
        slow = {id(p) for p in backbone.parameters()}
    groups: dict[float, list] = {}
    for name, p in learner.named_parameters():
        scale = scales.get(name, 1.0) * (config.backbone_lr if id(p) in slow else 1.0)
        groups.setdefault(scale, []).append(p)
    full = groups.pop(1.0, [])
    return [
        *({"params": ps, "lr": config.lr * scale} for scale, ps in groups.items()),
        {"params": full},
    ]


def make_optimizer(config: TrainConfig, learner: torch.nn.Module) -> torch.optim.Optimizer:
    groups = param_groups(config, learner)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr)
    return torch.optim.Adam(groups, lr=config.lr)


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer):
    if config.lr_schedule == "linear":
        # A closure over config.episodes: raising --episodes on --resume stretches the annealing.
        total = config.episodes
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total))
    return torch.optim.lr_scheduler.StepLR(optimizer, config.lr_step, config.lr_gamma)


def episode_specs(config: TrainConfig) -> tuple[EpisodeSpec, EpisodeSpec]:
    """The shapes of a run's training and validation episodes."""
    within, val_within = config.within_alphabet, config.val_within_alphabet
    return (
        EpisodeSpec(config.ways, config.shots, config.queries, within, within),
        EpisodeSpec(config.val_ways, config.val_shots, config.val_queries, val_within, val_within),
    )


def validate(
    learner: Learner, val_set, config: TrainConfig, device: torch.device, workers: int = 0
) -> tuple[float, float]:
    """Mean accuracy and 95 % interval of ``learner`` on the run's fixed validation episodes."""
    _, spec = episode_specs(config)
    results = evaluate_iter(
        learner, val_set, spec, config.val_episodes, config.seed + 1, device, workers=workers
    )
    s = summarize([r.accuracy for r in results])
    return s.mean, s.ci95


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
        ctx: DistContext | None = None,
        amp: str | None = None,
    ) -> None:
        self.config = config
        self.learner = learner.to(device)
        train_set, val_set = on_device(train_set, device), on_device(val_set, device)
        self.train_set, self.val_set, self.device = train_set, val_set, device
        self.workers, self.ctx, self.amp = workers, ctx, amp
        self.train_spec, self.val_spec = episode_specs(config)
        most = learner.capabilities.max_ways
        if most is not None and max(config.ways, config.val_ways) > most:
            raise ValueError(
                f"{learner.name} handles at most {most} classes; give --ways and --val-ways "
                f"of {most} or fewer"
            )
        check_spec(train_set, self.train_spec)
        check_spec(val_set, self.val_spec)
        self.optimizer = make_optimizer(config, learner)
        self.scheduler = make_scheduler(config, self.optimizer)
        if ctx is None:  # one process: one seeded stream of episodes
            self.stream, self.share = (
                EpisodeStream(train_set, self.train_spec, config.seed, workers),
                None,
            )
        else:  # torchrun: episode j of step s from seed (seed, s, j), this rank's share
            self.share = distributed.share(ctx, config.meta_batch)
            self._check_share()
            self.stream = StepEpisodes(
                train_set, self.train_spec, config.seed, self.share.indices, workers
            )
            self.step_optimizer = AllReduceOptimizer(self.optimizer)
        self._check_amp()
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
        self.step = 0
        self.best_accuracy = -1.0
        self.stopped_early = False  # set by run() when its deadline passed
        self.interrupted = False  # set by run() when stop() asked it to end
        self.best_step = 0

    @property
    def main(self) -> bool:
        """Whether this process validates, logs and writes (rank 0, or the only process)."""
        return self.ctx is None or self.ctx.main

    def _check_share(self) -> None:
        c, ctx = self.config, self.ctx
        if not self.share.split_queries:
            return
        if c.queries < ctx.world:
            raise ValueError(
                f"--meta-batch {c.meta_batch} does not divide among {ctx.world} processes, so "
                f"they share each episode's queries: give --queries >= {ctx.world} or a "
                f"--meta-batch divisible by {ctx.world}"
            )
        if type(self.learner).meta_step is not Learner.meta_step:  # Reptile: not a query loss
            raise ValueError(
                f"{self.learner.name} under torchrun needs a --meta-batch divisible by the "
                f"{ctx.world} processes"
            )

    def _check_amp(self) -> None:
        if self.amp is None:
            return
        if not self.learner.mixed_precision_ok():
            raise ValueError(
                f"--amp is for metric and first-order learners; second-order {self.learner.name} "
                "stays in float32 (add --first-order)"
            )
        if self.device.type == "cpu" and self.amp != "bf16":
            raise ValueError("--amp fp16 needs --device cuda; on the CPU use --amp bf16")
        if self.device.type == "cpu" and not self.learner.cpu_bf16_ok:
            raise ValueError(
                f"--amp bf16 on the CPU is for the metric learners (protonet, matching, "
                f"relation); {self.learner.name} needs --device cuda"
            )
        if self.device.type not in ("cuda", "cpu"):
            raise ValueError(f"--amp runs on cuda or cpu, not {self.device.type}")
        if self.amp == "fp16" and type(self.learner).meta_step is not Learner.meta_step:
            raise ValueError(f"--amp fp16 needs a loss scaler, which {self.learner.name}'s "
                             "update does not take; use --amp bf16")  # fmt: skip

    def state_dict(self) -> dict:
        state = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "best_accuracy": self.best_accuracy,
            "best_step": self.best_step,
            "world_size": 1 if self.ctx is None else self.ctx.world,
            "episodes_by_step": self.ctx is not None,
            "amp": self.amp or "",  # a resumed run keeps its precision unless --amp is given
        }
        if self.ctx is None:
            state["generator"] = self.stream.state_dict()
        if self.amp == "fp16":
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        saved, made = len(state["optimizer"]["param_groups"]), len(self.optimizer.param_groups)
        if saved != made:  # e.g. a run saved before its learner had rates of its own
            raise ValueError(
                f"the run's optimiser has {saved} parameter groups and this version makes {made} "
                "(per-layer learning rates changed); start a new run from its weights with "
                "--init-backbone RUN/last.pt"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.config.lr_schedule == "linear":  # the annealing's length may have changed
            (rule,) = self.scheduler.lr_lambdas
            for group, base in zip(
                self.optimizer.param_groups, self.scheduler.base_lrs, strict=True
            ):
                group["lr"] = base * rule(self.scheduler.last_epoch)
        if self.ctx is None:
            self.stream.load_state_dict(state["generator"])
        if "scaler" in state and self.amp == "fp16":
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.best_accuracy = float(state["best_accuracy"])
        self.best_step = int(state["best_step"])

    def validate(self) -> tuple[float, float]:
        return validate(self.learner, self.val_set, self.config, self.device, self.workers)

    def run(
        self, deadline: float | None = None, stop: Callable[[], bool] | None = None
    ) -> Iterator[TrainStep | Validation]:
        """Train from the current step to ``config.episodes``, validating every ``val_every``.

        ``deadline`` (``time.monotonic()`` seconds): once passed, validate at the current step
        and stop (``stopped_early`` becomes True). ``stop()``: read before each step (a signal
        asked the run to stop); when true on any process, end there, between two steps, without
        validating (``interrupted`` becomes True).
        """
        c = self.config
        self.stopped_early = self.interrupted = False
        try:
            while self.step < c.episodes and not self.stopped_early:
                asked = stop is not None and stop()
                if self.ctx is not None:  # every process stops at the same step
                    asked = distributed.agree_to_stop(self.ctx, asked, self.device)
                if asked:
                    self.interrupted = True
                    return
                self.learner.train()
                lr = self.optimizer.param_groups[-1]["lr"]  # the full rate (--backbone-lr)
                out = self._meta_step(self._batch())
                if self.ctx is not None:
                    distributed.average_buffers(self.learner)
                self.scheduler.step()
                self.step += 1
                yield TrainStep(self.step, out.loss.item(), out.accuracy, lr)
                late = deadline is not None and time.monotonic() >= deadline
                if self.ctx is not None:  # rank 0's clock decides for every rank
                    late = distributed.agree_to_stop(self.ctx, late and self.main, self.device)
                self.stopped_early = late
                due = self.step % c.val_every == 0 or self.step == c.episodes or late
                if due and self.main:
                    acc, ci = self.validate()
                    best = acc > self.best_accuracy
                    if best:
                        self.best_accuracy, self.best_step = acc, self.step
                    yield Validation(self.step, acc, ci, best)
        finally:
            self.stream.close()

    def _batch(self) -> list:
        """This process's episodes of the next meta-step (augmented if asked), on the device."""
        c = self.config
        if self.ctx is None:
            batch = [self.stream.next() for _ in range(c.meta_batch)]
            indices = range(c.meta_batch)
        else:
            batch, indices = self.stream.for_step(self.step), self.share.indices
        if c.augment != "none":  # from (seed, step, j): the same whatever resumes or ranks
            batch = [
                augment_episode(ep, c.augment, episode_generator(c.seed, self.step, j, stream=1))
                for ep, j in zip(batch, indices, strict=True)
            ]
        if c.vary_shots:
            batch = [
                fewer_shots(ep, episode_generator(c.seed, self.step, j, stream=2))
                for ep, j in zip(batch, indices, strict=True)
            ]
        if self.ctx is None:
            return [ep.to(self.device) for ep in batch]
        if self.share.split_queries:
            batch = [distributed.query_share(ep, self.ctx) for ep in batch]
            self.step_optimizer.weight = len(batch[0].query_labels) / (
                self.config.ways * self.config.queries
            )
        else:
            self.step_optimizer.weight = 1.0 / self.ctx.world
        return [ep.to(self.device) for ep in batch]

    def _meta_step(self, batch: list):
        autocast = (
            torch.autocast(self.device.type, dtype=AMP_DTYPES[self.amp])
            if self.amp
            else contextlib.nullcontext()
        )
        if self.amp is None or type(self.learner).meta_step is not Learner.meta_step:
            optimizer = self.optimizer if self.ctx is None else self.step_optimizer
            with autocast:
                return self.learner.meta_step(batch, optimizer)
        with autocast:
            out = self.learner.meta_loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(out.loss).backward()
        if self.ctx is not None:
            self.step_optimizer.reduce_gradients()
        self.scaler.step(self.optimizer)  # skips the step on inf/nan (fp16), on every rank alike
        self.scaler.update()
        return out
