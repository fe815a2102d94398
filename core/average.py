"""Average the weights of several checkpoints of one run into one checkpoint (weight averaging).

    python -m core.average runs/lake/step-*.pt --out runs/lake/averaged.pt

Snapshots taken along a run at a constant learning rate (``core.train --keep-every N``) lie around
a minimum; their mean often generalises better than any one of them (stochastic weight averaging,
Izmailov et al. 2018). The files must hold the same learner with the same settings. BatchNorm
running statistics of the mean weights are not the mean of the snapshots' statistics, so for
learners that keep running statistics (the metric learners) they are measured again on
``--bn-episodes`` training episodes of the run's own classes (0: keep the averaged statistics).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch
from torch import nn

from core.checkpoint import CheckpointError, read_checkpoint_file, save_checkpoint
from core.cli import add_data_args, add_device_args, add_version_arg, fail, setup_device

#: Seed of the episodes BatchNorm statistics are measured on (not the training stream's).
BN_SEED = 20181003


def average_state_dicts(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of floating-point tensors (in float64, cast back); other tensors
    (BatchNorm's step counters) are taken from the last state."""
    out = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            total = sum(s[key].to(torch.float64) for s in states)
            out[key] = (total / len(states)).to(last.dtype)
        else:
            out[key] = last.clone()
    return out


def check_compatible(payloads: list[dict], paths: list[str]) -> None:
    """ValueError naming the first file that differs from the first in learner, settings or
    weight shapes."""
    for payload, path in zip(payloads, paths, strict=True):
        if not all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values()):
            raise ValueError(f"{path}: its weights are not all tensors")
    first, first_path = payloads[0], paths[0]
    shapes = {k: tuple(v.shape) for k, v in first["state_dict"].items()}
    for payload, path in zip(payloads[1:], paths[1:], strict=True):
        if payload["algorithm"] != first["algorithm"]:
            raise ValueError(
                f"{path} holds {payload['algorithm']}, {first_path} {first['algorithm']}: "
                "only checkpoints of one learner can be averaged"
            )
        if payload["config"] != first["config"]:
            raise ValueError(f"{path} and {first_path} have different model settings")
        theirs = {k: tuple(v.shape) for k, v in payload["state_dict"].items()}
        if theirs != shapes:
            raise ValueError(f"{path} and {first_path} have different weights (names or shapes)")


def running_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


def measure_batch_norm(learner, episodes) -> int:
    """Reset the running statistics of ``learner``'s BatchNorm layers and measure them again as
    the cumulative mean over the training forward passes of ``episodes``; returns the count of
    layers measured (0: the learner keeps no running statistics, nothing is done)."""
    norms = running_norms(learner)
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every episode counts equally
    learner.train()
    for episode in episodes:  # with autograd on: some learners' forward pass takes gradients
        learner.meta_loss([episode]).loss.detach()
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    learner.eval()
    return len(norms)


def _run_config(metadata: dict):
    """The ``TrainConfig`` of the run a checkpoint comes from; ValueError when it records none."""
    from core.training.config import TrainConfig

    config = metadata.get("train_config")
    if not isinstance(config, dict):
        raise ValueError("the checkpoint records no training settings (not a core.train run)")
    try:
        return TrainConfig(**config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the checkpoint's training settings are unusable ({exc})") from None


def _run_data(config, root: Path, subset: str, metadata: dict, preprocess):
    """The run's ``subset`` (its training or validation classes) under ``preprocess``."""
    from core.data.datasets import trained_on

    return trained_on(metadata).load(root, subset, preprocess)


def training_episodes(metadata: dict, root: Path, count: int, device: torch.device, preprocess):
    """``count`` episodes shaped as the run's training episodes, from its training classes."""
    from core.data.episodes import EpisodeStream
    from core.training.trainer import episode_specs

    config = _run_config(metadata)
    bank = _run_data(config, root, config.train_subset, metadata, preprocess)
    stream = EpisodeStream(bank, episode_specs(config)[0], BN_SEED)
    try:
        for _ in range(count):
            yield stream.next().to(device)
    finally:
        stream.close()


def validation_metrics(learner, metadata: dict, root: Path, device, preprocess) -> dict:
    """The run's own validation (its classes, task and seeded episodes) of ``learner``, as the
    ``metrics`` a training checkpoint records, so the mean compares with the snapshots."""
    from core.training.trainer import validate

    config = _run_config(metadata)
    bank = _run_data(config, root, config.val_subset, metadata, preprocess)
    accuracy, ci95 = validate(learner, bank, config, device)
    return {
        "val_accuracy": accuracy,
        "val_ci95": ci95,
        "val_task": f"{config.val_ways}-way {config.val_shots}-shot",
        "best_val_accuracy": accuracy,
        "best_step": metadata.get("step"),
    }


def _step(payload: dict) -> int:
    step = payload["metadata"].get("step")
    return step if isinstance(step, int) else -1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.average",
        description="Average the weights of checkpoints of one learner (e.g. the step-N.pt files "
        "of core.train --keep-every) into one checkpoint.",
    )
    add_version_arg(p)
    p.add_argument("checkpoints", nargs="+", help="two or more checkpoint files")
    p.add_argument("--out", type=Path, required=True, help="the averaged checkpoint to write")
    p.add_argument(
        "--bn-episodes",
        type=int,
        default=200,
        help="training episodes BatchNorm's running statistics are measured on for the mean "
        "weights (learners with running statistics only; 0: average the files' statistics; "
        "default 200)",
    )
    p.add_argument(
        "--validate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="score the mean on the run's own validation episodes and record it as the "
        "checkpoint's metrics (default: when the files are core.train snapshots)",
    )
    add_data_args(p)
    add_device_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if len(args.checkpoints) < 2:
        return fail("give at least two checkpoints to average")
    if args.bn_episodes < 0:
        return fail("--bn-episodes must not be negative")
    if args.out.resolve() in {Path(p).resolve() for p in args.checkpoints}:
        return fail(f"--out {args.out} is one of the inputs; write the average to a new file")
    device = setup_device(args)
    from core.checkpoint import load_checkpoint

    try:
        payloads = [read_checkpoint_file(path) for path in args.checkpoints]
        check_compatible(payloads, args.checkpoints)
        # in step order (a shell glob sorts step-250 after step-2000): the latest gives metadata
        order = sorted(range(len(payloads)), key=lambda i: _step(payloads[i]))
        paths = [args.checkpoints[i] for i in order]
        payloads = [payloads[i] for i in order]
        ckpt = load_checkpoint(paths[-1], device)
        learner = ckpt.learner
        learner.load_state_dict(average_state_dicts([p["state_dict"] for p in payloads]))
        measured = 0
        if args.bn_episodes and running_norms(learner):
            episodes = training_episodes(
                ckpt.metadata, args.data_root, args.bn_episodes, device, ckpt.preprocess
            )
            measured = measure_batch_norm(learner, episodes)
        metadata = dict(ckpt.metadata)
        metadata.pop("metrics", None)  # the snapshots' validation does not describe the mean
        if args.validate or (args.validate is None and "train_config" in metadata):
            metadata["metrics"] = validation_metrics(
                learner, metadata, args.data_root, device, ckpt.preprocess
            )
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        return fail(str(exc))
    metadata["averaged_from"] = [
        {"file": Path(path).name, "step": p["metadata"].get("step")}
        for path, p in zip(paths, payloads, strict=True)
    ]
    metadata["bn_episodes"] = args.bn_episodes if measured else 0
    metadata["average_command"] = "python -m core.average " + shlex.join(argv)
    save_checkpoint(args.out, learner.cpu(), metadata)
    bn = f"; BatchNorm measured on {args.bn_episodes} episodes" if measured else ""
    print(f"averaged {len(payloads)} checkpoints into {args.out}{bn}", file=sys.stderr)
    if "metrics" in metadata:
        m = metadata["metrics"]
        scores = [v for v in map(_val, payloads) if v is not None]
        best = f" (the best of the inputs: {100 * max(scores):.2f} %)" if scores else ""
        print(
            f"validation {m['val_task']}: {100 * m['val_accuracy']:.2f} ± "
            f"{100 * m['val_ci95']:.2f} %{best}",
            file=sys.stderr,
        )
    return 0


def _val(payload: dict) -> float | None:
    metrics = payload["metadata"].get("metrics")
    value = metrics.get("val_accuracy") if isinstance(metrics, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


if __name__ == "__main__":
    sys.exit(main())
