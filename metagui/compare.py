"""Compare mode's second learner: its own checkpoint, worker thread and adapted classifier.

The window's model thread runs the first learner; this runs the second on the same support set
and query at the same time, so the two predictions and timings can be shown side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from core.checkpoint import Checkpoint
from metagui import jobs
from metagui.session import Drawing, Example, SupportSet
from metagui.worker import Job, JobThread


@dataclass(frozen=True)
class CompareResult:
    """What one learner made of the task: ``probs`` ``(n_query, n_way)`` (None without a
    query), the class names, seconds taken, ``"adapt"`` or ``"classify"`` and inner steps."""

    probs: np.ndarray | None
    names: tuple[str, ...]
    elapsed: float
    kind: str
    steps: int = 0


class CompareRunner(QObject):
    """Loads the second checkpoint and adapts / classifies with it off the GUI thread."""

    loaded = Signal(object)  # Checkpoint
    result = Signal(object)  # CompareResult
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = JobThread("compareWorker", self)
        self.checkpoint: Checkpoint | None = None
        self.path: Path | None = None
        self._adapted: tuple[tuple, object] | None = None  # (support key, classifier)
        self._latest: dict[str, int] = {}
        self.thread.finished_job.connect(self._finished)
        self.thread.failed.connect(self._failed)

    def load(self, path: Path | None, device: torch.device) -> Job | None:
        """Load ``path`` as the second learner (None: compare mode off)."""
        self._adapted = None
        if path is None:
            self.checkpoint, self.path = None, None
            self._latest.clear()  # results still on their way are dropped
            return None
        return self._submit("load", lambda: jobs.load(path, device), path)

    def request(
        self,
        support: SupportSet,
        version: int,
        query: Drawing | list[Example],
        has_query: bool,
        device: torch.device,
    ) -> Job | None:
        """Adapt to ``support`` (session ``version``) unless already adapted, then classify."""
        if self.checkpoint is None:
            return None
        key = (version, id(self.checkpoint), str(device))
        spec = self.checkpoint.preprocess
        if self._adapted is not None and self._adapted[0] == key:
            if not has_query:
                self.result.emit(CompareResult(None, support.names, 0.0, "classify"))
                return None
            classifier = self._adapted[1]
            run = lambda: jobs.classify(classifier, query, spec, device)  # noqa: E731
            return self._submit("classify", run, (key, support.names))
        learner = self.checkpoint.learner
        run = lambda: jobs.adapt(learner, spec, support, query, None, None, device)  # noqa: E731
        return self._submit("adapt", run, (key, support.names))

    def _submit(self, kind: str, run, context) -> Job:
        job = Job(kind, run, context)
        self._latest[kind] = job.id
        if kind == "adapt":  # a classification of an older support set is stale too
            self._latest.pop("classify", None)
        return self.thread.submit(job)

    def _finished(self, job: Job, last) -> None:
        if self._latest.get(job.kind) != job.id or last is None:
            return
        if job.kind == "load":
            self.checkpoint, self.path = last, job.context
            self.loaded.emit(last)
            return
        key, names = job.context
        if job.kind == "adapt":
            self._adapted = (key, last.classifier)
        steps = last.total_steps if job.kind == "adapt" else 0
        self.result.emit(CompareResult(last.probs, names, last.elapsed, job.kind, steps))

    def _failed(self, job: Job, message: str) -> None:
        if self._latest.get(job.kind) != job.id:
            return
        if job.kind == "load":
            self.failed.emit(f"could not load {job.context.name}: {message}")
        else:
            self._adapted = None
            self.failed.emit(message)
