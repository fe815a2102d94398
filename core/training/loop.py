"""Drive ``Trainer.run()``: a progress bar, logs and checkpoints on rank 0, clean stops.

Ctrl+C and ``kill`` save ``last.pt`` (exit 130); under torchrun a lost process ends the others'
collectives with an error (or their timeout), and rank 0 saves the last completed step (exit 1).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch.distributed as dist
from tqdm import tqdm

from core.training.distributed import first_line
from core.training.signals import sigterm_interrupts
from core.training.sinks import RunWriter
from core.training.trainer import Trainer, TrainStep

#: Exit code of a run ended by a failure of the process group (a lost rank).
LOST_PROCESS = 1


def run(trainer: Trainer, out: Path, metadata: dict, seconds: float | None = None) -> int:
    """Iterate ``trainer.run()``, writing logs and checkpoints into ``out`` (rank 0 only)."""
    config = trainer.config
    writer = RunWriter(trainer, out, metadata) if trainer.main else None
    quiet = None if trainer.main else True  # tqdm: None = on a terminal only
    bar = tqdm(total=config.episodes, initial=trainer.step, desc=config.algorithm, disable=quiet)
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        with sigterm_interrupts():
            for rec in trainer.run(deadline):
                if writer is not None:
                    writer.record(rec)
                if isinstance(rec, TrainStep):
                    bar.update(1)
                    if rec.step % 10 == 0:
                        bar.set_postfix(loss=f"{rec.loss:.3f}", acc=f"{rec.accuracy:.3f}")
                    continue
                tqdm.write(
                    f"step {rec.step}: val {config.val_ways}-way {config.val_shots}-shot "
                    f"{100 * rec.accuracy:.2f} ± {100 * rec.ci95:.2f} %"
                    + (" (best)" if rec.best else ""),
                    file=sys.stderr,
                )
    except KeyboardInterrupt:
        if writer is not None:
            writer.save("last.pt", {"interrupted": True}, with_state=True)
            print(
                f"\ninterrupted: saved {out / 'last.pt'}; continue with --resume", file=sys.stderr
            )
        return 130
    except (RuntimeError, dist.DistError) as exc:
        if trainer.ctx is None or not dist.is_initialized():
            raise
        saved = ""
        if writer is not None:  # the step that failed changed nothing: save the one before
            writer.save("last.pt", {"interrupted": True}, with_state=True)
            saved = f"; saved {out / 'last.pt'} at step {trainer.step}, continue with --resume"
        print(
            f"error: rank {trainer.ctx.rank} lost the other processes of the run "
            f"({first_line(exc)[:160]}){saved}",
            file=sys.stderr,
        )
        return LOST_PROCESS
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    if not trainer.main:
        return 0
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
