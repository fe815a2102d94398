"""One learner, without widgets: its checkpoint, the adaptation cache, query versions and jobs.

The window holds two of these (the main learner and compare mode's second one) and binds their
typed signals to its plots; tests drive them directly. Every result reaches the GUI thread in a
record through a queued signal; nothing here runs the model on the GUI thread.

Policy (the same for both instances): the support set's adaptation starts when the support set
(or the checkpoint, device, steps or learning rate) changes; a query change never restarts an
unfinished adaptation: the query is classified against it when it finishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from core.algorithms.base import AdaptationDiverged, Classifier
from core.checkpoint import Checkpoint
from core.data.spec import PreprocessSpec
from core.embedding_map import Projection, has_map
from core.openset.rejector import Rejector
from metagui.app import compute as jobs
from metagui.app.learner_views import MemoryView, SimilarityView
from metagui.app.openset import OpenSetState
from metagui.app.records import (
    Adapted,
    AdaptKey,
    Kind,
    Loaded,
    Predicted,
    Problem,
    ProblemCode,
    Query,
    Stepped,
)
from metagui.app.session import DRAWING_SPEC, Session, SupportError, SupportSet
from metagui.control.worker import Job, JobQueue


@dataclass(frozen=True)
class _Context:
    """What a job was submitted for (interpreted on the GUI thread when its records arrive)."""

    key: AdaptKey | None = None
    support: SupportSet | None = None
    query: Query | None = None
    path: Path | None = None


@dataclass
class _Cache:
    key: AdaptKey
    classifier: Classifier
    support: SupportSet
    projection: Projection | None = None
    rejector: Rejector | None = None  # "none of these", fitted to this support set


class LearnerController(QObject):
    """A learner's checkpoint, cached adaptation and background jobs (one thread)."""

    loaded = Signal(object)  # Loaded
    stepped = Signal(object)  # Stepped
    adapted = Signal(object)  # Adapted
    predicted = Signal(object)  # Predicted
    mapped = Signal(object)  # jobs.MapUpdate
    viewed = Signal(object)  # learner_views.MemoryView | SimilarityView
    problem = Signal(object)  # Problem
    solved = Signal(object)  # ProblemCode no longer applies

    def __init__(self, thread_name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = JobQueue(thread_name, self)
        self.checkpoint: Checkpoint | None = None
        self.path: Path | None = None
        self.device = torch.device("cpu")
        self.steps: int | None = None  # overrides; None: the checkpoint's own
        self.lr: float | None = None
        self.map_wanted = False
        self.openset = OpenSetState(None, "Load a checkpoint first")
        self.reject_unknown = False  # the user's switch; active only with a calibration
        self.last_job: Job | None = None
        self.last_adaptation_s: float | None = None
        self._generation = 0
        self._cache: _Cache | None = None
        self._adapting: AdaptKey | None = None  # key of the adaptation in flight
        self._query: Query | None = None
        self._latest: dict[Kind, int] = {}
        self._final = None  # the last AdaptUpdate received
        self._fitted: tuple[AdaptKey, Projection] | None = None  # the map's latest PCA
        self.thread.yielded.connect(self._on_yielded)
        self.thread.finished_job.connect(self._on_finished)
        self.thread.failed.connect(self._on_failed)

    # ------------------------------------------------------------------ state
    @property
    def spec(self) -> PreprocessSpec:
        return self.checkpoint.preprocess if self.checkpoint else DRAWING_SPEC

    def defaults(self) -> tuple[int, float | None]:
        """The checkpoint's meta-trained ``(steps, lr)``; ``(0, None)`` without one."""
        return self.checkpoint.learner.adapt_defaults() if self.checkpoint else (0, None)

    def has_map(self) -> bool:
        return self.checkpoint is not None and has_map(self.checkpoint.learner)

    def key(self, support_version: int) -> AdaptKey:
        return AdaptKey(support_version, self._generation, self.steps, self.lr, str(self.device))

    def is_current(self, job: Job) -> bool:
        return self._latest.get(job.kind) == job.id

    def busy(self) -> bool:
        return self.thread.busy()

    def open_set_active(self) -> bool:
        """Whether queries far from every class are answered "none of these"."""
        return self.reject_unknown and self.openset.calibration is not None

    def set_reject_unknown(self, on: bool) -> None:
        """The switch; the caller requests a prediction again to apply it."""
        self.reject_unknown = on

    def set_overrides(self, steps: int | None, lr: float | None) -> None:
        """Adaptation steps / learning rate (None: as meta-trained), used from the next request."""
        self.steps, self.lr = steps, lr

    # ------------------------------------------------------------------ jobs
    def load(self, path: Path, device: torch.device | None = None) -> Job:
        if device is not None:
            self.device = device
        device = self.device
        run = lambda: jobs.load_learner(path, device)  # noqa: E731
        return self._submit(Kind.LOAD, run, _Context(path=path))

    def unload(self) -> None:
        """No learner (compare mode off): results on their way are dropped."""
        self.checkpoint, self.path, self._cache, self._adapting = None, None, None, None
        self.openset = OpenSetState(None, "Load a checkpoint first")
        self._latest.clear()

    def forget(self) -> None:
        """Drop the cached adaptation (the next request adapts, e.g. to time both learners)."""
        self._cache = None

    def request(self, session: Session, query: Query) -> Job | None:
        """Adapt to the session's classes unless already adapted (or adapting), then classify
        ``query``. Returns the job submitted, if any."""
        self._query = query
        if self.checkpoint is None:
            return None
        try:
            support = session.support_set(self.spec)
        except SupportError as exc:
            self._cache = self._adapting = None
            self._latest.pop(Kind.ADAPT, None)
            self._latest.pop(Kind.CLASSIFY, None)
            self.problem.emit(Problem(ProblemCode.SUPPORT, str(exc)))
            return None
        self.solved.emit(ProblemCode.SUPPORT)
        key = self.key(session.version)
        if self._cache is not None and self._cache.key == key:
            return self._classify(query)
        if self._adapting == key and self.thread.busy():
            return None  # classified when the adaptation ends
        return self._adapt(key, support, query)

    def request_map(self) -> Job | None:
        """Map the cached support set and the current query on their own (map just shown)."""
        cache, query = self._cache, self._query
        if cache is None or not (self.map_wanted and self.has_map()):
            return None
        learner, spec, device = self.checkpoint.learner, self.spec, self.device
        content = () if query is None else query.content
        run = lambda: jobs.map_only(  # noqa: E731  (reads nothing of self on the worker thread)
            learner, cache.support, cache.projection, content, spec, device
        )
        return self._submit(Kind.MAP, run, _Context(key=cache.key, support=cache.support))

    def _adapt(self, key: AdaptKey, support: SupportSet, query: Query) -> Job:
        learner, spec, device = self.checkpoint.learner, self.spec, self.device
        steps, lr = key.steps, key.lr
        if not learner.capabilities.adapt_steps:
            steps = lr = None
        fit_map = self.map_wanted and self.has_map()
        calibration = self.openset.calibration if self.open_set_active() else None
        self._adapting = key
        self._latest.pop(Kind.CLASSIFY, None)  # a classification of an older support is stale

        def run():
            return jobs.adapt(
                learner,
                spec,
                support,
                query.content,
                steps,
                lr,
                device,
                fit_map=fit_map,
                calibration=calibration,
            )

        return self._submit(Kind.ADAPT, run, _Context(key, support, query))

    def _classify(self, query: Query) -> Job | None:
        cache = self._cache
        if query.empty:
            self.predicted.emit(Predicted(None, cache.support.names, query.version, 0.0, False, 0))
            self.request_map()
            return None
        mapping = self.map_wanted and self.has_map()
        projection = cache.projection if mapping else None  # None with a map: fitted there
        learner = self.checkpoint.learner if mapping else None
        spec, device = self.spec, self.device
        openset = None
        if self.open_set_active():
            openset = jobs.OpenSetJob(
                self.openset.calibration, self.checkpoint.learner, cache.support, cache.rejector
            )

        view_of = self.checkpoint.learner

        def run():
            return jobs.classify(
                cache.classifier,
                query.content,
                spec,
                device,
                learner,
                cache.support,
                projection,
                openset,
                view_of,
            )

        return self._submit(Kind.CLASSIFY, run, _Context(cache.key, cache.support, query))

    def _submit(self, kind: Kind, run, context: _Context) -> Job:
        job = Job(kind, run, context)
        self._latest[kind] = job.id
        self.last_job = job
        return self.thread.submit(job)

    # ------------------------------------------------------------------ results (GUI thread)
    def _query_current(self, context: _Context) -> bool:
        return self._query is not None and context.query.version == self._query.version

    def _flags(self, record) -> np.ndarray | None:
        """A record's "none of these" flags, unless the switch went off since it was asked."""
        return record.rejected if self.open_set_active() else None

    def _on_yielded(self, job: Job, record) -> None:
        if not self.is_current(job):
            return
        context: _Context = job.context
        if isinstance(record, jobs.MapUpdate):
            if self._cache is not None and self._cache.key == context.key:
                self._cache.projection = record.projection
            self._fitted = (context.key, record.projection)  # for the cache being made
            self.mapped.emit(record)
        elif isinstance(record, (MemoryView, SimilarityView)):
            self.viewed.emit(record)
        elif job.kind is Kind.ADAPT:
            self._final = record
            self.stepped.emit(Stepped(record.step, record.total_steps, record.loss))
            if record.probs is not None and self._query_current(context):
                names, version = context.support.names, context.query.version
                self.predicted.emit(
                    Predicted(
                        record.probs,
                        names,
                        version,
                        record.elapsed,
                        True,
                        record.step,
                        self._flags(record),
                    )
                )
        elif job.kind is Kind.CLASSIFY and self._query_current(context):
            cache = self._cache
            if record.rejector is not None and cache is not None and cache.key == context.key:
                cache.rejector = record.rejector
            names, version = context.support.names, context.query.version
            self.predicted.emit(
                Predicted(
                    record.probs, names, version, record.elapsed, False, 0, self._flags(record)
                )
            )

    def _on_finished(self, job: Job, last) -> None:
        if not self.is_current(job):
            return
        context: _Context = job.context
        if job.kind is Kind.LOAD:
            self._generation += 1
            self.checkpoint, self.path, self._cache = last.checkpoint, context.path, None
            self.openset = last.openset
            self.solved.emit(ProblemCode.LOAD_FAILED)
            self.loaded.emit(Loaded(context.path, last.checkpoint))
        elif job.kind is Kind.ADAPT and last is not None:
            last = self._final  # the last step (a map may have followed it)
            self._adapting = None
            self._cache = _Cache(context.key, last.classifier, context.support)
            self._cache.rejector = last.rejector
            if self._fitted is not None and self._fitted[0] == context.key:
                self._cache.projection = self._fitted[1]
            self.last_adaptation_s = last.elapsed
            self.solved.emit(ProblemCode.DIVERGED)
            self.solved.emit(ProblemCode.ADAPT_FAILED)
            query = self._query
            if query is not None and query.version != context.query.version:
                self._classify(query)  # the query changed while adapting
            elif last.probs is None:
                names = context.support.names
                version = context.query.version
                self.predicted.emit(Predicted(None, names, version, last.elapsed, True, 0))
            elif self.open_set_active() and last.rejected is None:
                self._classify(query)  # switched on while adapting: decide now
            else:  # the final record again: the time of the whole adaptation
                names, version = context.support.names, context.query.version
                self.predicted.emit(
                    Predicted(
                        last.probs,
                        names,
                        version,
                        last.elapsed,
                        True,
                        last.total_steps,
                        self._flags(last),
                    )
                )
            self.adapted.emit(Adapted(last.elapsed, last.total_steps, last.loss))
        elif job.kind is Kind.CLASSIFY and last is not None and not self._query_current(context):
            self._classify(self._query)

    def _on_failed(self, job: Job, message: str) -> None:
        if not self.is_current(job):
            return
        context: _Context = job.context
        if job.kind is Kind.LOAD:
            keep = f"; still using {self.path.name}" if self.path else ""
            text = f"Could not load the checkpoint {context.path.name}: {message}{keep}"
            self.problem.emit(Problem(ProblemCode.LOAD_FAILED, text))
        elif job.kind is Kind.MAP:
            self.problem.emit(Problem(ProblemCode.MAP_FAILED, f"No map: {message}"))
        else:
            self._cache = self._adapting = None
            diverged = job.error is not None and issubclass(job.error, AdaptationDiverged)
            code = ProblemCode.DIVERGED if diverged else ProblemCode.ADAPT_FAILED
            text = f"Adaptation failed: {message}. Your classes are unchanged."
            self.problem.emit(Problem(code, text))

    def stop(self, timeout_ms: int = 2000) -> bool:
        return self.thread.stop(timeout_ms)


__all__ = [
    "AdaptKey",
    "Adapted",
    "Kind",
    "LearnerController",
    "Loaded",
    "Predicted",
    "Problem",
    "ProblemCode",
    "Query",
    "Stepped",
]
