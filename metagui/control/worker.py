"""Background jobs as superqt generator workers, reporting every record with a Qt signal.

The GUI submits ``Job``s: a ``kind`` and a function returning an iterator of records. A
``JobQueue`` runs each as a ``superqt.utils.GeneratorWorker`` (made by ``create_worker``) on a
private one-thread ``QThreadPool``: one job at a time, in submission order. It emits ``yielded``
once per record, then ``finished_job`` (with the last record), ``failed`` (with a plain-words
message) or ``cancelled``. Newest wins: submitting a job ``quit()``s the running worker of the
same kind (it stops between two records, emits ``aborted`` and no ``returned``) and takes a
queued one out of the pool; records of a superseded job are dropped. Results travel in the
records only: a job's function must not write GUI state (it runs on the pool's thread).
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QThreadPool, Signal
from superqt.utils import GeneratorWorker, create_worker

_ids = itertools.count(1)


@dataclass(eq=False)
class Job:
    """One unit of background work. ``run`` is called on the worker thread."""

    kind: str
    run: Callable[[], Iterator[object]]
    context: object = None  # whatever the submitter needs to interpret the results
    id: int = field(default_factory=lambda: next(_ids))
    submitted_at: float = field(default_factory=time.perf_counter)
    started_at: float = 0.0
    ended_at: float = 0.0
    error: type[BaseException] | None = None  # the exception's type when it failed
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()


def plain_message(exc: BaseException) -> str:
    """A one-line message for the status bar; expected errors carry their own wording."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, (ValueError, ArithmeticError, OSError, KeyError)) and text:
        return text
    return f"unexpected error ({type(exc).__name__}: {text or 'no details'})"


class JobError(Exception):
    """A ``RuntimeError`` raised by a job (torch raises many). superqt's ``GeneratorWorker``
    takes a ``RuntimeError`` for a deleted worker and only warns, emitting neither ``errored``
    nor ``finished``; wrapped, it is reported like any other error."""

    def __init__(self, error: RuntimeError) -> None:
        super().__init__(str(error))
        self.error = error


def _records(job: Job) -> Iterator[object]:  # runs on the pool's thread
    try:
        yield from job.run()
    except RuntimeError as exc:
        raise JobError(exc) from exc


class _JobWorker(GeneratorWorker):
    """A GeneratorWorker that stamps the job's times and closes its generator when it ends
    (an aborted job's generator runs its ``finally`` on the worker thread, at once)."""

    def __init__(self, func, job: Job, **kwargs) -> None:
        super().__init__(func, job, **kwargs)
        self.job = job

    def work(self):
        self.job.started_at = time.perf_counter()
        try:
            return super().work()
        finally:
            self._gen.close()
            self.job.ended_at = time.perf_counter()


class JobQueue(QObject):
    """Runs submitted jobs one at a time, in order; a newer job of the same kind cancels the
    older one. Signals reach the GUI thread's slots through queued connections."""

    started_job = Signal(object)  # Job
    yielded = Signal(object, object)  # Job, record
    finished_job = Signal(object, object)  # Job, last record (or None)
    failed = Signal(object, str)  # Job, message
    cancelled = Signal(object)  # Job

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._pool = QThreadPool(self)
        self._pool.setObjectName(name)
        self._pool.setMaxThreadCount(1)  # one job at a time, in submission order
        self._pool.setExpiryTimeout(-1)  # the thread stays until stop(): no restart per job
        self._workers: dict[int, _JobWorker] = {}  # job id -> worker, queued or running
        self._last: dict[int, object] = {}  # job id -> its last record received
        self._failed: set[int] = set()
        # ended workers, kept until the pool's thread has surely left their run(): their last
        # signal is emitted inside it (the next job's start, or stop(), lets them go)
        self._retired: list[_JobWorker] = []
        self._stopping = False

    def submit(self, job: Job) -> Job:
        """Queue ``job`` (from the GUI thread); cancel the running and queued jobs of its kind."""
        if self._stopping:
            return job
        for old in [w for w in self._workers.values() if w.job.kind == job.kind]:
            self._cancel(old)
        worker = create_worker(
            _records,
            job,
            _start_thread=False,
            _ignore_errors=True,
            _worker_class=_JobWorker,
            _connect={
                "started": lambda: self._started(job),
                "yielded": lambda record: self._yielded(job, record),
                "errored": lambda exc: self._errored(job, exc),
                "finished": lambda: self._finished(job),
            },
        )
        worker.setAutoDelete(False)  # kept in _workers until its finished signal arrives
        self._workers[job.id] = worker
        self._pool.start(worker)
        return job

    def _cancel(self, worker: _JobWorker) -> None:
        worker.job.cancel()
        worker.quit()
        if self._pool.tryTake(worker):  # never started: no signal will come from it
            self._workers.pop(worker.job.id, None)
            self.cancelled.emit(worker.job)

    def busy(self) -> bool:
        return bool(self._workers)

    def isRunning(self) -> bool:
        return self._pool.activeThreadCount() > 0

    def stop(self, timeout_ms: int | None = 5000) -> bool:
        """Cancel everything and wait for the worker thread to end; True when it has."""
        self._stopping = True
        for worker in list(self._workers.values()):
            self._cancel(worker)
        done = self._pool.waitForDone(-1 if timeout_ms is None else timeout_ms)
        if done:
            self._retired.clear()
        return done and not self.isRunning()

    # ------------------------------------------------------------ GUI thread (queued)
    def _started(self, job: Job) -> None:
        self._retired.clear()  # one thread: the previous worker's run() has returned
        if not job.is_cancelled:  # superseded while this notification was on its way
            self.started_job.emit(job)

    def _yielded(self, job: Job, record) -> None:
        if job.is_cancelled:
            return  # the record computed while quit() was on its way: stale
        self._last[job.id] = record
        self.yielded.emit(job, record)

    def _errored(self, job: Job, exc: BaseException) -> None:
        self._failed.add(job.id)
        if job.is_cancelled:
            return
        error = exc.error if isinstance(exc, JobError) else exc
        job.error = type(error)
        if not isinstance(error, (ValueError, ArithmeticError, OSError)):
            traceback.print_exception(error)
        self.failed.emit(job, plain_message(error))

    def _finished(self, job: Job) -> None:
        worker = self._workers.pop(job.id, None)
        if worker is not None:
            self._retired.append(worker)
        last = self._last.pop(job.id, None)
        if job.id in self._failed:
            self._failed.discard(job.id)
        elif job.is_cancelled:
            self.cancelled.emit(job)
        else:
            self.finished_job.emit(job, last)
