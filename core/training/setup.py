"""The run set-up of ``python -m core.train`` as a library function: flags → config → dataset →
learner → trainer → metadata. The CLI calls it, and so can anything else that starts a run (the
window's meta-training process, benchmarks): the same flags, checkpoints and metadata.

    args, explicit = parse_run_args(argv)
    run = prepare_run(args, explicit, argv, device)
    loop.run(run.trainer, run.out, run.metadata, run.seconds)
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from dataclasses import dataclass
from pathlib import Path

import torch

from core import __version__
from core.algorithms import ALGORITHMS, build_learner
from core.data import default_preprocess, load_dataset
from core.data.datasets import dataset_kind
from core.data.preprocess import PREPROCESS_VERSION
from core.data.spec import PreprocessSpec
from core.training.config import TrainConfig, build_parser, explicit_flags, problem
from core.training.distributed import DistContext, agree_to_stop
from core.training.init_backbone import init_backbone
from core.training.presets import expand
from core.training.resume import merge, read_run, saved_amp
from core.training.run_folder import RunFolder, claim
from core.training.sinks import write_json
from core.training.trainer import Trainer


@dataclass
class PreparedRun:
    """A run ready to go: ``loop.run(trainer, out, metadata, seconds)`` trains it.

    ``resumed``: the line to say when it continues a saved run, else None.
    """

    trainer: Trainer
    out: Path
    metadata: dict
    seconds: float | None
    resumed: str | None
    folder: RunFolder | None = None  # the claimed run folder (rank 0); release() when done


def parse_run_args(argv: list[str]) -> tuple[argparse.Namespace, set[str], list[str]]:
    """``core.train``'s flags (presets expanded) → ``(args, explicit flags, expanded argv)``.

    The algorithm's own flags come from ``--algorithm`` (for ``--resume``: the run's algorithm).
    Raises ValueError for an unknown preset or algorithm; argparse exits 2 on a bad flag.
    """
    argv = expand(list(argv))
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--algorithm", default=None)
    pre.add_argument("--resume", action="store_true")
    pre.add_argument("--out", type=Path, default=None)
    known, _ = pre.parse_known_args(argv)
    algorithm = known.algorithm or "protonet"
    if known.resume and known.algorithm is None and known.out is not None:
        algorithm = read_run(known.out).config.algorithm  # its own algorithm's flags
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    parser = build_parser(algorithm)
    parser.set_defaults(algorithm=algorithm)
    args = parser.parse_args(argv)
    return args, explicit_flags(parser, argv), argv


def prepare_run(
    args: argparse.Namespace, explicit: set[str], argv: list[str], device: torch.device,
    ctx: DistContext | None = None,
) -> PreparedRun:  # fmt: skip
    """Set a run up from its parsed flags: config → dataset → learner → trainer → metadata.

    ``argv``: the command line as given (recorded in the checkpoints); ``explicit``: the flags the
    user typed (a resumed run keeps its own settings for the others). Raises ValueError (or
    FileNotFoundError, DataNotFoundError) with a one-line reason; writes nothing but
    ``config.json`` in the run folder.
    """
    out: Path = args.out or Path("runs") / args.algorithm
    _, config_cls = ALGORITHMS[args.algorithm]
    algo_config = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(config_cls)
        if getattr(args, f.name) is not None
    }
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    command = "python -m core.train " + shlex.join(argv)
    saved = None
    for name, value in (("--max-minutes", args.max_minutes), ("--workers", args.workers)):
        if value is not None and value < 0:
            raise ValueError(f"{name} must not be negative")
    if args.resume:
        saved = read_run(out)
        config = merge(saved, config, algo_config, explicit)
        algo_config, command = saved.algorithm_config, saved.command
        if "amp" not in explicit:
            args.amp = saved_amp(saved)
    reason = problem(config)
    if reason:
        raise ValueError(reason)
    root = _data_root(args, config, saved, explicit)
    spec, algo_config = _input(config, root, algo_config, config_cls, explicit)
    if saved is not None and "preprocess" in saved.metadata:  # the run's own inputs
        spec = PreprocessSpec.from_metadata(saved.metadata)
    torch.manual_seed(config.seed)  # weight initialisation
    learner = build_learner(config.algorithm, algo_config)
    inherited = ()
    if config.init_backbone and saved is None:  # a resumed run has its own weights
        inherited = init_backbone(learner, config.init_backbone)
    split = config.split if config.split in (dataset_kind(config.dataset).splits or ()) else None
    train_set = load_dataset(config.dataset, root, config.train_subset, spec, split=split)
    val_set = load_dataset(config.dataset, root, config.val_subset, spec, split=split)
    ctx, note = _world(ctx, saved)
    trainer = Trainer(config, learner, train_set, val_set, device, args.workers, ctx, args.amp)
    resumed = None
    if saved is not None:
        learner.load_state_dict(saved.weights)
        trainer.load_state_dict(saved.state)
        amp = f" with --amp {args.amp}" if args.amp else ""
        resumed = f"resuming {out / 'last.pt'} at step {trainer.step}{amp}{note}"
    folder = _claim(out, args, trainer, ctx)
    if trainer.main:
        write_json(
            out / "config.json",
            {"train": dataclasses.asdict(config), "algorithm": dataclasses.asdict(learner.config)},
        )
    world = 1 if ctx is None else ctx.world
    metadata = run_metadata(learner, spec, train_set, config, command, inherited, world)
    minutes = args.max_minutes
    seconds = None if minutes is None else 60 * minutes
    return PreparedRun(trainer, out, metadata, seconds, resumed, folder)


def _claim(out: Path, args, trainer: Trainer, ctx: DistContext | None) -> RunFolder | None:
    """Rank 0 claims the run folder; under torchrun every process learns whether it could."""
    folder, reason = None, None
    if trainer.main:
        try:
            folder = claim(out, args.resume, args.overwrite)
        except ValueError as exc:
            reason = str(exc)
    if ctx is not None and agree_to_stop(ctx, reason is not None, trainer.device):
        reason = reason or f"process 0 could not claim {out}"
    if reason:
        raise ValueError(reason)
    return folder


def run_metadata(
    learner, spec: PreprocessSpec, train_set, config: TrainConfig, command: str,
    inherited=(), world: int = 1,
) -> dict:  # fmt: skip
    """What a trained checkpoint records: backbone, preprocessing, data, the exact command and
    configuration, and every character it has seen (``inherited``: an ``--init-backbone``'s)."""
    return {
        "backbone": learner.config.backbone,
        "input_size": spec.size,
        "preprocess_version": PREPROCESS_VERSION,
        "preprocess": spec.to_dict(),
        "dataset": train_set.describe(),
        "train_command": command,
        "train_config": dataclasses.asdict(config),
        "split": train_set.split,
        "subset": config.train_subset,
        "train_characters": sorted(set(train_set.characters) | set(inherited)),
        "core_version": __version__,
        "world_size": world,
    }


def _world(ctx: DistContext | None, saved) -> tuple[DistContext | None, str]:
    """The process context of a (resumed) run, and what to say about a change of world size.

    A run started under torchrun draws its episodes by step and resumes with any number of
    processes (one included); a run started as one process keeps its single episode stream.
    """
    if saved is None:
        return ctx, ""
    by_step = bool(saved.state.get("episodes_by_step"))
    if ctx is not None and not by_step:
        raise ValueError(
            "this run was started as one process (one episode stream); resume it without "
            "torchrun, or start a new run under torchrun"
        )
    if ctx is None and by_step:
        ctx = DistContext()  # one process continuing a torchrun run: the same episodes
    before, now = int(saved.state.get("world_size", 1)), 1 if ctx is None else ctx.world
    if before == now:
        return ctx, ""
    return ctx, (
        f" (trained on {before} process(es), continuing on {now}: the same episodes, "
        f"split {now} way(s))"
    )


def _data_root(args, config: TrainConfig, saved, explicit: set[str]) -> Path:
    """``--data-root``; for a folder dataset resumed without it, the folder the run used."""
    if config.dataset != "folder" or "data_root" in explicit:
        return args.data_root
    recorded = (saved.metadata.get("dataset") or {}).get("root") if saved else None
    if recorded:
        return Path(recorded)
    raise ValueError("--dataset folder needs --data-root DIR: a folder of class sub-folders")


def _input(config: TrainConfig, root: Path, algo_config: dict, config_cls, explicit: set[str]):
    """The preprocessing spec of the run and the learner config matching it (channels, size)."""
    fields = {f.name for f in dataclasses.fields(config_cls)}
    spec = default_preprocess(config.dataset, root)
    if "input_size" in algo_config:
        spec = dataclasses.replace(spec, size=int(algo_config["input_size"]))
    channels = algo_config.get("in_channels")
    if channels is not None and "in_channels" in explicit and channels != spec.channels:
        raise ValueError(
            f"--in-channels {channels} does not match the {config.dataset} input "
            f"({spec.kind}, {spec.channels} channel(s))"
        )
    algo_config = dict(algo_config)
    if "in_channels" in fields:
        algo_config["in_channels"] = spec.channels
    if "input_size" in fields:
        algo_config["input_size"] = spec.size
    return spec, algo_config
