"""superqt's generator workers and throttlers behind the interface of ``JobThread``/``Throttle``.

``WorkerQueue`` runs each ``Job`` as a ``superqt.utils.GeneratorWorker`` (made by
``create_worker``) on a private one-thread ``QThreadPool``, so that, as with ``JobThread``, one
queue runs one job at a time in submission order. Newest wins: submitting a job ``quit()``s the
running worker of the same kind (it stops between two records and emits ``aborted``) and takes
a queued one out of the pool. The worker's ``yielded``/``errored``/``finished`` reach the GUI
thread through queued connections and are re-emitted as ``JobThread``'s signals, with the job.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterator

from PySide6.QtCore import QObject, QThreadPool, Signal
from superqt.utils import GeneratorWorker, create_worker, qdebounced, qthrottled

from metagui.worker import Job, plain_message


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


class WorkerQueue(QObject):
    """Same signals and methods as ``JobThread``, made of superqt workers."""

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
        self._lock = threading.Lock()
        self._workers: dict[int, _JobWorker] = {}  # job id -> worker, queued or running
        self._last: dict[int, object] = {}  # job id -> its last record received
        self._failed: set[int] = set()
        # ended workers, kept until the pool's thread has surely left their run(): their last
        # signal is emitted inside it (the next job's start, or stop(), lets them go)
        self._retired: list[_JobWorker] = []
        self._stopping = False

    def submit(self, job: Job) -> Job:
        """Queue ``job``; cancel the running and queued jobs of its kind."""
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


class QThrottle(QObject):
    """``Throttle``'s interface on ``superqt.utils.qthrottled`` (leading edge: an isolated
    request runs at once, a burst at most once per interval, with the newest state)."""

    def __init__(self, interval_ms: int, callback: Callable[[], None], parent=None) -> None:
        super().__init__(parent)
        self.callback = callback
        self._throttled = qthrottled(self._fire, interval_ms, leading=True, parent=self)

    def request(self) -> None:
        self._throttled()

    def pending(self) -> bool:
        return self._throttled._hasPendingEmission

    def flush(self) -> None:
        self._throttled.flush()

    def now(self) -> None:
        self._throttled()
        self._throttled.flush()  # runs it unless the call above already did

    def _fire(self) -> None:
        self.callback()


class QDebounce(QObject):
    """``Debounce``'s interface on ``qdebounced`` (after a pause of ``delay_ms``) plus a
    trailing ``qthrottled`` (at least every ``max_wait_ms`` while requests keep coming)."""

    def __init__(self, delay_ms: int, max_wait_ms: int, callback: Callable[[], None], parent=None):
        super().__init__(parent)
        self.callback = callback
        self._debounced = qdebounced(self._fire, delay_ms, parent=self)
        self._max = qthrottled(self._fire, max_wait_ms, leading=False, parent=self)

    def request(self) -> None:
        self._debounced()
        self._max()

    def cancel(self) -> None:
        self._debounced.cancel()
        self._max.cancel()

    def _fire(self) -> None:
        self.cancel()
        self.callback()
