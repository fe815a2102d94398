"""What a training run writes into its folder: ``metrics.csv``, TensorBoard logs (when installed),
checkpoints with their readable ``.json`` companions, and ``config.json``."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import time
from pathlib import Path

from core.checkpoint import read_checkpoint_file, save_checkpoint
from core.files import write_problem, write_text
from core.training.trainer import Trainer, TrainStep, Validation

CSV_FIELDS = ("step", "kind", "loss", "accuracy", "lr", "ci95")


class WriteFailed(Exception):
    """A file of the run could not be written (full disk, folder gone); the message says which,
    in one line. The files written before are whole."""


def write_json(path: Path, doc: dict) -> None:
    """Write ``doc`` as indented JSON atomically (temporary file, then rename)."""
    write_text(path, json.dumps(doc, indent=2))


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


class RunWriter:
    """Writes the records of ``trainer.run()`` into ``out``; ``close()`` when done.

    ``metadata``: provenance stored in every checkpoint (dataset, preprocessing, command, ...);
    each checkpoint adds its metrics, step and cumulative training seconds.
    """

    def __init__(self, trainer: Trainer, out: Path, metadata: dict) -> None:
        self.trainer, self.out, self.metadata = trainer, out, metadata
        self.started = time.monotonic()
        self.seconds_before = 0.0
        last = out / "last.pt"
        if last.exists() and trainer.step > 0:
            saved = read_checkpoint_file(last)["metadata"]
            self.seconds_before = float(saved.get("train_seconds", 0.0))
        self.tensorboard = _tensorboard(out)

    def record(self, rec: TrainStep | Validation) -> None:
        """Log a record; a validation also writes ``last.pt`` (and ``best.pt`` when best).
        WriteFailed when a file cannot be written."""
        try:
            self._record(rec)
        except OSError as exc:
            raise WriteFailed(write_problem(exc.filename or self.out, exc)) from None

    def _record(self, rec: TrainStep | Validation) -> None:
        tb = self.tensorboard
        if isinstance(rec, TrainStep):
            if rec.step % 10 == 0:
                self._csv(rec.step, "train", rec.loss, rec.accuracy, rec.lr, "")
                if tb:
                    tb.add_scalar("train/loss", rec.loss, rec.step)
                    tb.add_scalar("train/accuracy", rec.accuracy, rec.step)
            return
        c, t = self.trainer.config, self.trainer
        self._csv(rec.step, "val", "", rec.accuracy, "", rec.ci95)
        if tb:
            tb.add_scalar("val/accuracy", rec.accuracy, rec.step)
        metrics = {
            "val_accuracy": rec.accuracy,
            "val_ci95": rec.ci95,
            "val_task": f"{c.val_ways}-way {c.val_shots}-shot",
            "best_val_accuracy": t.best_accuracy,
            "best_step": t.best_step,
        }
        if rec.best:
            self._save("best.pt", metrics, with_state=False)
        if c.keep_every and rec.step % c.keep_every == 0:
            self._save(f"step-{rec.step}.pt", metrics, with_state=False)
        self._save("last.pt", metrics, with_state=True)

    def save(self, name: str, metrics: dict, with_state: bool) -> None:
        """Write checkpoint ``name`` and its readable ``.json`` companion (WriteFailed)."""
        try:
            self._save(name, metrics, with_state)
        except OSError as exc:
            raise WriteFailed(write_problem(exc.filename or self.out / name, exc)) from None

    def _save(self, name: str, metrics: dict, with_state: bool) -> None:
        meta = {
            **self.metadata,
            "metrics": metrics,
            "step": self.trainer.step,
            "train_seconds": self.seconds_before + time.monotonic() - self.started,
        }
        state = self.trainer.state_dict() if with_state else None
        save_checkpoint(self.out / name, self.trainer.learner, meta, state)
        # Human-readable companion: config, metrics and provenance (not the class list).
        summary = {k: v for k, v in meta.items() if k != "train_characters"}
        summary["algorithm_config"] = dataclasses.asdict(self.trainer.learner.config)
        write_json(self.out / Path(name).with_suffix(".json"), summary)

    def _csv(self, step, kind, loss, accuracy, lr, ci95) -> None:
        path = self.out / "metrics.csv"
        new = not path.exists()
        with path.open("a", newline="") as fh:
            size = fh.tell()
            try:
                writer = csv.writer(fh)
                if new:
                    writer.writerow(CSV_FIELDS)
                writer.writerow((step, kind, loss, accuracy, lr, ci95))
                fh.flush()
            except OSError:  # full disk: no half row left behind
                with contextlib.suppress(OSError):
                    fh.truncate(size)
                raise

    def close(self) -> None:
        if self.tensorboard:
            self.tensorboard.close()
