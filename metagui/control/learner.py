"""One learner, without widgets: its checkpoint, the adaptation cache, query versions and jobs.

The window holds two of these (the main learner and compare mode's second one); panels bind
their typed signals, tests drive them directly. Every result reaches the GUI thread in a record
of ``metagui.app.records`` through a queued signal; nothing here runs the model on the GUI
thread, and torch is imported on the worker thread (the first load), never here.

Policy (the same for both instances): the support set's adaptation starts when the support set
(or the checkpoint, device, steps or learning rate) changes; a query change never restarts an
unfinished adaptation: the query is classified against it when it finishes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from metagui.app.openset import OpenSetJob, OpenSetState
from metagui.app.records import (
    AdaptKey,
    Kind,
    MapUpdate,
    MemoryView,
    Prediction,
    Problem,
    ProblemCode,
    Query,
    SimilarityView,
    Step,
)
from metagui.app.session import Session, SupportError, SupportSet, drawing_spec
from metagui.control.learner_state import Cache, Context
from metagui.control.worker import Job, JobQueue

NO_CHECKPOINT = OpenSetState(None, "Load a checkpoint first")


def _compute(name: str, *args, **kwargs):
    """A job's function: ``metagui.app.compute.<name>(*args, **kwargs)``, imported when it runs
    on the worker thread (torch and core load there, never on the GUI thread). The arguments
    are what the GUI thread read when it submitted the job: nothing of the controller is read
    on the worker thread."""

    def run():
        from metagui.app import compute

        return getattr(compute, name)(*args, **kwargs)

    return run


class LearnerController(QObject):
    """A learner's checkpoint, cached adaptation and background jobs (one thread)."""

    loaded = Signal(object)  # Loaded
    stepped = Signal(object)  # Step (every inner-loop step)
    adapted = Signal(object)  # Step (the last one, once the adaptation is done)
    predicted = Signal(object)  # Prediction
    mapped = Signal(object)  # MapUpdate
    viewed = Signal(object)  # MemoryView | SimilarityView
    problem = Signal(object)  # Problem
    solved = Signal(object)  # ProblemCode no longer applies

    def __init__(self, thread_name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = JobQueue(thread_name, self)
        self.checkpoint = None  # core.checkpoint.Checkpoint
        self.path: Path | None = None
        self.device = "cpu"  # a torch.device (or its name, before torch is loaded)
        self.steps: int | None = None  # overrides; None: the checkpoint's own
        self.lr: float | None = None
        self.map_wanted = False
        self.openset = NO_CHECKPOINT
        self.reject_unknown = False  # the user's switch; active only with a calibration
        self.last_job: Job | None = None
        self.last_adaptation_s: float | None = None
        self._generation = 0
        self._cache: Cache | None = None
        self._adapting: AdaptKey | None = None  # key of the adaptation in flight
        self._query: Query | None = None
        self._latest: dict[Kind, int] = {}
        self._final: Step | None = None  # the last step received
        self._fitted: tuple[AdaptKey, Any] | None = None  # the map's latest PCA
        self.thread.yielded.connect(self._on_yielded)
        self.thread.finished_job.connect(self._on_finished)
        self.thread.failed.connect(self._on_failed)

    # ------------------------------------------------------------------ state
    @property
    def spec(self):
        """The checkpoint's preprocessing spec (the drawing spec without one)."""
        return self.checkpoint.preprocess if self.checkpoint else drawing_spec()

    def defaults(self) -> tuple[int, float | None]:
        """The checkpoint's meta-trained ``(steps, lr)``; ``(0, None)`` without one."""
        return self.checkpoint.learner.adapt_defaults() if self.checkpoint else (0, None)

    def has_map(self) -> bool:
        if self.checkpoint is None:
            return False
        from core.embedding_map import has_map

        return has_map(self.checkpoint.learner)

    def key(self, support_version: int) -> AdaptKey:
        return AdaptKey(support_version, self._generation, self.steps, self.lr, str(self.device))

    def is_current(self, job: Job) -> bool:
        return self._latest.get(job.kind) == job.id

    def busy(self) -> bool:
        return self.thread.busy()

    def load_requested(self) -> bool:
        """Whether a checkpoint was asked for (loaded, loading or failed) since the last unload."""
        return Kind.LOAD in self._latest

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
    def load(self, path: Path, device=None) -> Job:
        if device is not None:
            self.device = device
        run = _compute("load_learner", path, self.device)
        return self._submit(Kind.LOAD, run, Context(path=path))

    def unload(self) -> None:
        """No learner (compare mode off): results on their way are dropped."""
        self.checkpoint, self.path, self._cache, self._adapting = None, None, None, None
        self.openset = NO_CHECKPOINT
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
        run = _compute("map_only", learner, cache.support, cache.projection, content, spec, device)
        return self._submit(Kind.MAP, run, Context(key=cache.key, support=cache.support))

    def _openset_job(self, support: SupportSet, rejector=None) -> OpenSetJob | None:
        if not self.open_set_active():
            return None
        calibration, learner = self.openset.calibration, self.checkpoint.learner
        return OpenSetJob(calibration, learner, support.images, support.labels, rejector)

    def _adapt(self, key: AdaptKey, support: SupportSet, query: Query) -> Job:
        learner, spec, device = self.checkpoint.learner, self.spec, self.device
        steps, lr = key.steps, key.lr
        if not learner.capabilities.adapt_steps:
            steps = lr = None
        fit_map = self.map_wanted and self.has_map()
        openset = self._openset_job(support)
        self._adapting = key
        self._latest.pop(Kind.CLASSIFY, None)  # a classification of an older support is stale
        run = _compute(
            "adapt", learner, spec, support, query.content, steps, lr, device, fit_map, openset
        )
        return self._submit(Kind.ADAPT, run, Context(key, support, query))

    def _classify(self, query: Query) -> Job | None:
        cache = self._cache
        if query.empty:
            self.predicted.emit(Prediction(None, cache.support.names, query.version))
            self.request_map()
            return None
        learner = self.checkpoint.learner
        map_of = learner if self.map_wanted and self.has_map() else None
        projection = cache.projection if map_of is not None else None
        spec, device = self.spec, self.device
        openset = self._openset_job(cache.support, cache.rejector)
        run = _compute(
            "classify", cache.classifier, query.content, query.version, spec, device,
            cache.support, openset=openset, view_of=learner, map_of=map_of, projection=projection,
        )  # fmt: skip
        return self._submit(Kind.CLASSIFY, run, Context(cache.key, cache.support, query))

    def _submit(self, kind: Kind, run, context: Context) -> Job:
        job = Job(kind, run, context)
        self._latest[kind] = job.id
        self.last_job = job
        return self.thread.submit(job)

    # ------------------------------------------------------------------ results (GUI thread)
    def _query_current(self, context: Context) -> bool:
        return self._query is not None and context.query.version == self._query.version

    def _shown(self, prediction: Prediction) -> Prediction:
        """``prediction`` without "none of these" flags when the switch went off since."""
        if prediction.rejected is not None and not self.open_set_active():
            return replace(prediction, rejected=None)
        return prediction

    def _from_step(self, step: Step, context: Context, steps: int) -> Prediction:
        names, version = context.support.names, context.query.version
        return self._shown(Prediction.of_step(step, names, version, steps))

    def _on_yielded(self, job: Job, record) -> None:
        if not self.is_current(job):
            return
        context: Context = job.context
        if isinstance(record, MapUpdate):
            if self._cache is not None and self._cache.key == context.key:
                self._cache.projection = record.projection
            self._fitted = (context.key, record.projection)  # for the cache being made
            self.mapped.emit(record)
        elif isinstance(record, (MemoryView, SimilarityView)):
            self.viewed.emit(record)
        elif isinstance(record, Step):
            self._final = record
            self.stepped.emit(record)
            if record.probs is not None and self._query_current(context):
                self.predicted.emit(self._from_step(record, context, record.step))
        elif isinstance(record, Prediction) and self._query_current(context):
            cache = self._cache
            if record.rejector is not None and cache is not None and cache.key == context.key:
                cache.rejector = record.rejector
            self.predicted.emit(self._shown(record))

    def _on_finished(self, job: Job, last) -> None:
        if not self.is_current(job):
            return
        context: Context = job.context
        if job.kind is Kind.LOAD:
            self._generation += 1
            self.checkpoint, self.path, self._cache = last.checkpoint, context.path, None
            self.openset = last.openset
            self.solved.emit(ProblemCode.LOAD_FAILED)
            self.loaded.emit(last)
        elif job.kind is Kind.ADAPT and last is not None:
            self._adapt_done(context)
        elif job.kind is Kind.CLASSIFY and last is not None and not self._query_current(context):
            self._classify(self._query)

    def _adapt_done(self, context: Context) -> None:
        last = self._final  # the last step (a map or view may have followed it)
        self._adapting = None
        self._cache = Cache(context.key, last.classifier, context.support)
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
            self.predicted.emit(
                Prediction(None, context.support.names, context.query.version, last.elapsed,
                           adapted=True)
            )  # fmt: skip
        elif self.open_set_active() and last.rejected is None:
            self._classify(query)  # switched on while adapting: decide now
        else:  # the final record again: the time of the whole adaptation
            self.predicted.emit(self._from_step(last, context, last.total_steps))
        self.adapted.emit(last)

    def _on_failed(self, job: Job, message: str) -> None:
        if not self.is_current(job):
            return
        context: Context = job.context
        if job.kind is Kind.LOAD:
            keep = f"; still using {self.path.name}" if self.path else ""
            text = f"Could not load the checkpoint {context.path.name}: {message}{keep}"
            self.problem.emit(Problem(ProblemCode.LOAD_FAILED, text))
        elif job.kind is Kind.MAP:
            self.problem.emit(Problem(ProblemCode.MAP_FAILED, f"No map: {message}"))
        else:
            self._cache = self._adapting = None
            diverged = job.error is not None and job.error.__name__ == "AdaptationDiverged"
            code = ProblemCode.DIVERGED if diverged else ProblemCode.ADAPT_FAILED
            text = f"Adaptation failed: {message}. Your classes are unchanged."
            self.problem.emit(Problem(code, text))

    def stop(self, timeout_ms: int = 2000) -> bool:
        return self.thread.stop(timeout_ms)
