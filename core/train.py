"""``python -m core.train``: meta-train a learner on Omniglot episodes.

    python -m core.train --algorithm protonet --episodes 20000 --out runs/protonet

Writes to ``--out``: ``best.pt`` (best validation accuracy, shippable), ``last.pt`` (resumable:
weights, optimizer, scheduler and episode-generator state), ``config.json`` and ``metrics.csv``
(and TensorBoard logs when tensorboard is installed). ``--resume`` continues from ``last.pt``
exactly where it was written.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from core import __version__
from core.algorithms import ALGORITHMS, Learner, build_learner
from core.cli import add_data_args, add_device_args, fail, setup_device
from core.data.episodes import EpisodeSpec, check_spec, sample_episode
from core.data.preprocess import PREPROCESS_VERSION
from core.data.splits import SPLITS, SUBSETS, ClassBank, load_split
from core.evaluate import evaluate_iter, summarize

OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("step", "linear")


@dataclass(frozen=True)
class TrainConfig:
    algorithm: str = field(default="protonet", metadata={"help": "learner to meta-train"})
    split: str = field(default="vinyals", metadata={"help": "class split: vinyals or lake"})
    train_subset: str = field(default="train", metadata={"help": "subset trained on"})
    val_subset: str = field(default="val", metadata={"help": "subset validated on"})
    ways: int = field(default=60, metadata={"help": "classes per training episode"})
    shots: int = field(default=5, metadata={"help": "support images per class (training)"})
    queries: int = field(default=5, metadata={"help": "query images per class (training)"})
    meta_batch: int = field(default=1, metadata={"help": "episodes per meta-update"})
    episodes: int = field(default=20000, metadata={"help": "total meta-updates to run"})
    optimizer: str = field(
        default="adam",
        metadata={
            "help": "outer-loop optimiser (sgd with --lr 1 is Reptile's paper update)",
            "choices": OPTIMIZERS,
        },
    )
    lr: float = field(default=1e-3, metadata={"help": "learning rate of the outer loop"})
    lr_schedule: str = field(
        default="step",
        metadata={
            "help": "step: multiply by --lr-gamma every --lr-step steps; "
            "linear: anneal to 0 at --episodes (Reptile's schedule)",
            "choices": LR_SCHEDULES,
        },
    )
    lr_step: int = field(default=4000, metadata={"help": "decay the learning rate every N steps"})
    lr_gamma: float = field(default=0.5, metadata={"help": "learning-rate decay factor"})
    val_every: int = field(default=500, metadata={"help": "validate and checkpoint every N steps"})
    val_episodes: int = field(default=300, metadata={"help": "fixed validation episodes"})
    val_ways: int = field(default=20, metadata={"help": "classes per validation episode"})
    val_shots: int = field(default=1, metadata={"help": "support images per validation class"})
    val_queries: int = field(default=5, metadata={"help": "queries per validation class"})
    seed: int = field(default=0, metadata={"help": "seed of weights and training episodes"})


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


def _optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr)
    return torch.optim.Adam(params, lr=config.lr)


def _scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer):
    if config.lr_schedule == "linear":
        # A closure over config.episodes: raising --episodes on --resume stretches the annealing.
        total = config.episodes
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total))
    return torch.optim.lr_scheduler.StepLR(optimizer, config.lr_step, config.lr_gamma)


class Trainer:
    """Meta-training as a generator of ``TrainStep``/``Validation`` records (see ``run``)."""

    def __init__(
        self,
        config: TrainConfig,
        learner: Learner,
        train_bank: ClassBank,
        val_bank: ClassBank,
        device: torch.device,
    ) -> None:
        self.config = config
        self.learner = learner.to(device)
        self.train_bank, self.val_bank, self.device = train_bank, val_bank, device
        self.train_spec = EpisodeSpec(config.ways, config.shots, config.queries)
        self.val_spec = EpisodeSpec(config.val_ways, config.val_shots, config.val_queries)
        check_spec(train_bank, self.train_spec)
        check_spec(val_bank, self.val_spec)
        self.optimizer = _optimizer(config, learner.parameters())
        self.scheduler = _scheduler(config, self.optimizer)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.step = 0
        self.best_accuracy = -1.0
        self.stopped_early = False  # set by run() when its deadline passed
        self.best_step = 0

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
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
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])
        self.best_accuracy = float(state["best_accuracy"])
        self.best_step = int(state["best_step"])

    def validate(self) -> tuple[float, float]:
        c = self.config
        results = evaluate_iter(
            self.learner, self.val_bank, self.val_spec, c.val_episodes, c.seed + 1, self.device
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
        while self.step < c.episodes and not self.stopped_early:
            self.learner.train()
            batch = [
                sample_episode(self.train_bank, self.train_spec, self.generator).to(self.device)
                for _ in range(c.meta_batch)
            ]
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


def _add_dataclass_args(group, cls, defaults: bool) -> None:
    """One flag per dataclass field: ``--field-name``; bool fields become ``--x/--no-x``;
    ``metadata["choices"]`` restricts the values."""
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        type_name = f.type if isinstance(f.type, str) else f.type.__name__
        kind = {"int": int, "float": float}.get(type_name, str)
        help_text = f"{f.metadata.get('help', '')} (default {f.default})"
        default = f.default if defaults else None
        if type_name == "bool":
            action = argparse.BooleanOptionalAction
            group.add_argument(flag, action=action, default=default, help=help_text)
        elif "choices" in f.metadata:
            group.add_argument(flag, choices=f.metadata["choices"], default=default, help=help_text)
        elif f.name == "algorithm":
            group.add_argument(flag, choices=list(ALGORITHMS), default=default, help=help_text)
        elif f.name == "split":
            group.add_argument(flag, choices=SPLITS, default=default, help=help_text)
        elif f.name.endswith("_subset"):
            group.add_argument(flag, choices=SUBSETS, default=default, help=help_text)
        else:
            group.add_argument(flag, type=kind, default=default, help=help_text)


def build_parser(algorithm: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.train",
        description="Meta-train a few-shot learner on Omniglot. Algorithm-specific options are "
        "listed for the chosen --algorithm (try --algorithm NAME --help).",
    )
    _add_dataclass_args(p.add_argument_group("training"), TrainConfig, defaults=True)
    _, config_cls = ALGORITHMS[algorithm]
    _add_dataclass_args(p.add_argument_group(f"{algorithm} options"), config_cls, defaults=False)
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/<algorithm>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last.pt (its saved settings win; "
        "--episodes may be raised to train longer)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop after this much wall time (validating and saving at the step reached); "
        "continue later with --resume",
    )
    add_data_args(p)
    add_device_args(p)
    return p


def _write_csv_row(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--algorithm", default="protonet")
    known, _ = pre.parse_known_args(argv)
    if known.algorithm not in ALGORITHMS:
        return fail(f"unknown algorithm {known.algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    args = build_parser(known.algorithm).parse_args(argv)
    device = setup_device(args)
    out: Path = args.out or Path("runs") / args.algorithm
    _, config_cls = ALGORITHMS[args.algorithm]
    algo_config = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(config_cls)
        if getattr(args, f.name) is not None
    }
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    command = "python -m core.train " + shlex.join(argv)
    state = None
    if args.resume:
        from core.checkpoint import CheckpointError, read_checkpoint_file

        try:
            saved = read_checkpoint_file(out / "last.pt")
        except CheckpointError as exc:
            return fail(f"cannot resume: {exc}")
        state = saved.get("training_state")
        if not isinstance(state, dict):
            return fail(f"cannot resume: {out / 'last.pt'} holds no training state")
        kept = TrainConfig(**saved["metadata"]["train_config"])
        config = dataclasses.replace(kept, episodes=max(config.episodes, kept.episodes))
        algo_config = saved["config"]
        command = saved["metadata"]["train_command"]
    if args.max_minutes is not None and args.max_minutes < 0:
        return fail("--max-minutes must be positive")
    if not (math.isfinite(config.lr) and config.lr > 0):
        return fail("--lr must be a positive number")
    for name in ("ways", "shots", "episodes", "meta_batch", "val_every", "val_episodes", "lr_step"):
        if getattr(config, name) < 1:
            return fail(f"--{name.replace('_', '-')} must be at least 1")
    try:
        torch.manual_seed(config.seed)  # weight initialisation
        learner = build_learner(config.algorithm, algo_config)
        size = learner.config.input_size
        train_bank = load_split(args.data_root, config.split, config.train_subset, size)
        val_bank = load_split(args.data_root, config.split, config.val_subset, size)
        trainer = Trainer(config, learner, train_bank, val_bank, device)
    except (ValueError, FileNotFoundError) as exc:
        return fail(str(exc))
    if state is not None:
        learner.load_state_dict(saved["state_dict"])
        trainer.load_state_dict(state)
        print(f"resuming {out / 'last.pt'} at step {trainer.step}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(
        json.dumps({"train": dataclasses.asdict(config), "algorithm": algo_config}, indent=2)
    )
    metadata = {
        "backbone": "conv4",
        "input_size": size,
        "preprocess_version": PREPROCESS_VERSION,
        "train_command": command,
        "train_config": dataclasses.asdict(config),
        "split": config.split,
        "subset": config.train_subset,
        "train_characters": sorted(train_bank.characters),
        "core_version": __version__,
    }
    minutes = args.max_minutes
    return _loop(trainer, out, metadata, None if minutes is None else 60 * minutes)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # `kill` (SIGTERM) saves and stops like Ctrl+C


def _loop(trainer: Trainer, out: Path, metadata: dict, seconds: float | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _run_loop(trainer, out, metadata, seconds)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run_loop(trainer, out, metadata, seconds)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_loop(trainer: Trainer, out: Path, metadata: dict, seconds: float | None) -> int:
    config = trainer.config
    writer = _tensorboard(out)
    started = time.monotonic()
    elapsed_before = float(metadata.get("train_seconds", 0.0))
    if (out / "last.pt").exists() and trainer.step > 0:
        from core.checkpoint import read_checkpoint_file

        elapsed_before = float(read_checkpoint_file(out / "last.pt")["metadata"]["train_seconds"])

    def save(name: str, metrics: dict, with_state: bool) -> None:
        from core.checkpoint import save_checkpoint

        meta = {
            **metadata,
            "metrics": metrics,
            "step": trainer.step,
            "train_seconds": elapsed_before + time.monotonic() - started,
        }
        state = trainer.state_dict() if with_state else None
        save_checkpoint(out / name, trainer.learner, meta, state)
        # Human-readable companion: config, metrics and provenance (not the character list).
        summary = {k: v for k, v in meta.items() if k != "train_characters"}
        summary["algorithm_config"] = dataclasses.asdict(trainer.learner.config)
        tmp = out / f".{name}.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, out / Path(name).with_suffix(".json"))

    bar = tqdm(total=config.episodes, initial=trainer.step, desc=config.algorithm, disable=None)
    deadline = None if seconds is None else started + seconds
    try:
        for rec in trainer.run(deadline):
            if isinstance(rec, TrainStep):
                bar.update(1)
                if rec.step % 10 == 0:
                    bar.set_postfix(loss=f"{rec.loss:.3f}", acc=f"{rec.accuracy:.3f}")
                    _write_csv_row(
                        out / "metrics.csv",
                        {
                            "step": rec.step,
                            "kind": "train",
                            "loss": rec.loss,
                            "accuracy": rec.accuracy,
                            "lr": rec.lr,
                            "ci95": "",
                        },
                    )
                    if writer:
                        writer.add_scalar("train/loss", rec.loss, rec.step)
                        writer.add_scalar("train/accuracy", rec.accuracy, rec.step)
                continue
            metrics = {
                "val_accuracy": rec.accuracy,
                "val_ci95": rec.ci95,
                "val_task": f"{config.val_ways}-way {config.val_shots}-shot",
                "best_val_accuracy": trainer.best_accuracy,
                "best_step": trainer.best_step,
            }
            _write_csv_row(
                out / "metrics.csv",
                {
                    "step": rec.step,
                    "kind": "val",
                    "loss": "",
                    "accuracy": rec.accuracy,
                    "lr": "",
                    "ci95": rec.ci95,
                },
            )
            if writer:
                writer.add_scalar("val/accuracy", rec.accuracy, rec.step)
            if rec.best:
                save("best.pt", metrics, with_state=False)
            save("last.pt", metrics, with_state=True)
            tqdm.write(
                f"step {rec.step}: val {config.val_ways}-way {config.val_shots}-shot "
                f"{100 * rec.accuracy:.2f} ± {100 * rec.ci95:.2f} %"
                + (" (best)" if rec.best else ""),
                file=sys.stderr,
            )
    except KeyboardInterrupt:
        save("last.pt", {"interrupted": True}, with_state=True)
        print(f"\ninterrupted: saved {out / 'last.pt'}; continue with --resume", file=sys.stderr)
        return 130
    finally:
        bar.close()
        if writer:
            writer.close()
    if trainer.stopped_early:
        print(
            f"time limit reached at step {trainer.step}: saved {out / 'last.pt'}; "
            "continue with --resume",
            file=sys.stderr,
        )
    print(
        f"done: best validation {100 * trainer.best_accuracy:.2f} % at step {trainer.best_step}; "
        f"checkpoint {out / 'best.pt'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
