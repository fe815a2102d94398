"""``python -m core.train``: meta-train a learner on few-shot episodes of any dataset.

    python -m core.train --algorithm protonet --episodes 20000 --out runs/protonet
    python -m core.train --algorithm maml --dataset folder --data-root my_photos --backbone resnet12

Writes to ``--out``: ``best.pt`` (best validation accuracy, shippable), ``last.pt`` (resumable:
weights, optimizer, scheduler and episode-generator state), ``config.json`` and ``metrics.csv``
(and TensorBoard logs when tensorboard is installed). ``--resume`` continues from ``last.pt``
exactly where it was written, with the run's own settings. The set-up itself is the library
function ``core.training.setup.prepare_run``.
"""

from __future__ import annotations

import sys

from core.bounds import bound_problem
from core.cli import fail, setup_device
from core.files import os_problem
from core.training import distributed
from core.training.config import TrainConfig
from core.training.loop import run
from core.training.setup import parse_run_args, prepare_run, run_metadata
from core.training.trainer import Trainer, TrainStep, Validation

__all__ = ["TrainConfig", "TrainStep", "Trainer", "Validation", "main", "run_metadata"]


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    try:
        args, explicit, _ = parse_run_args(given)
    except ValueError as exc:
        return fail(str(exc))
    problem = bound_problem(vars(args))
    if problem:
        return fail(problem)
    device = setup_device(args)
    if args.dist_timeout <= 0:
        return fail("--dist-timeout must be positive")
    ctx = None
    if distributed.launched():  # torchrun
        try:
            ctx = distributed.init(device, args.dist_timeout)
        except ValueError as exc:
            return fail(str(exc))
        device = distributed.device_of(ctx, device)
    prepared = None
    try:
        try:
            prepared = prepare_run(args, explicit, given, device, ctx)
        except (ValueError, FileNotFoundError) as exc:
            return fail(str(exc))
        except OSError as exc:  # an unreadable data folder, a run folder that cannot be written
            return fail(os_problem(exc))
        if prepared.resumed and prepared.trainer.main:
            print(prepared.resumed, file=sys.stderr)
        return run(prepared.trainer, prepared.out, prepared.metadata, prepared.seconds)
    finally:
        if prepared is not None and prepared.folder is not None:
            prepared.folder.release()
        distributed.shutdown()


if __name__ == "__main__":
    sys.exit(main())
