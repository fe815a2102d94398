"""Drive ``Trainer.run()``: a progress bar, logs and checkpoints on rank 0, clean stops.

Ctrl+C and ``kill`` stop at the next step boundary and save ``last.pt`` (exit 130), from which
``--resume`` gives the weights of an uninterrupted run; a full disk ends the run in one line
with the previous files whole (exit 1); under torchrun a lost process ends the others'
collectives with an error (or their timeout), and rank 0 saves the last completed step (exit 1).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch.distributed as dist
from tqdm import tqdm

from core.algorithms.base import AdaptationDiverged
from core.data.preprocess import ImageError
from core.training.distributed import first_line
from core.training.signals import stop_at_step_boundary
from core.training.sinks import RunWriter, WriteFailed
from core.training.trainer import Trainer, TrainStep

#: Exit code of a run ended by a failure of the process group (a lost rank).
LOST_PROCESS = 1
#: Exit code of a run that could not write its files (full disk) or whose training diverged.
WRITE_FAILED = 1
#: Exit code of a run whose data became unusable.
BAD_DATA = 2
#: Exit code of a run stopped by Ctrl+C or ``kill`` (as a shell reports SIGINT).
INTERRUPTED = 130


def run(trainer: Trainer, out: Path, metadata: dict, seconds: float | None = None) -> int:
    """Iterate ``trainer.run()``, writing logs and checkpoints into ``out`` (rank 0 only)."""
    config = trainer.config
    quiet = None if trainer.main else True  # tqdm: None = on a terminal only
    deadline = None if seconds is None else time.monotonic() + seconds
    writer = bar = None
    try:
        writer = RunWriter(trainer, out, metadata) if trainer.main else None
        bar = tqdm(
            total=config.episodes, initial=trainer.step, desc=config.algorithm, disable=quiet
        )
        with stop_at_step_boundary() as stop:
            for rec in trainer.run(deadline, stop.requested):
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
            if trainer.interrupted:
                if writer is not None:  # between two steps: resumes as if never stopped
                    writer.save("last.pt", {"interrupted": True}, with_state=True)
                    print(
                        f"\ninterrupted: saved {out / 'last.pt'} at step {trainer.step}; "
                        "continue with --resume",
                        file=sys.stderr,
                    )
                return INTERRUPTED
    except KeyboardInterrupt:  # asked twice: stop now, inside a step; last.pt is the last save
        if writer is not None:
            print(f"\nstopped without saving; {out / 'last.pt'} holds the last saved step",
                  file=sys.stderr)  # fmt: skip
        return INTERRUPTED
    except WriteFailed as exc:  # full disk, folder gone: the previous files are whole
        print(f"error: {exc}", file=sys.stderr)
        return WRITE_FAILED
    except ImageError as exc:  # a class whose images all became unreadable (folder deleted...)
        saved = (
            f"{out / 'last.pt'} keeps the last saved step"
            if (out / "last.pt").exists()
            else "no step was saved yet"
        )
        print(f"error: {_last_line(exc)}; stopped at step {trainer.step} ({saved}): fix or "
              "remove that class folder, then --resume", file=sys.stderr)  # fmt: skip
        return BAD_DATA
    except AdaptationDiverged as exc:
        print(f"error: training diverged at step {trainer.step + 1}: {exc}", file=sys.stderr)
        return WRITE_FAILED
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
        if bar is not None:
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


def _last_line(exc: BaseException) -> str:
    """The message of an error, also when a DataLoader worker wrapped it in its traceback."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[-1].removeprefix("core.data.preprocess.ImageError: ")
