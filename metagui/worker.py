"""A worker thread that iterates core's generators and reports every record with a Qt signal.

The GUI submits ``Job``s: a ``kind`` and a function returning an iterator of records. The thread
runs one job at a time and emits ``yielded`` once per record, then ``finished`` (with the last
record), ``failed`` (with a plain-words message) or ``cancelled``. Newest wins: submitting a job
cancels the running job of the same kind between two records and replaces a pending one. Only
the GUI thread touches widgets: the signals reach its slots through queued connections.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from PySide6.QtCore import QThread, Signal

_ids = itertools.count(1)

#: Which implementation ``job_queue`` (and ``metagui.throttle``'s factories) build: "qthread"
#: (``JobThread``, ``Throttle``, ``Debounce``) or "superqt" (``metagui.superqt_workers``). Set
#: by ``benchmarks/gui_latency.py --workers`` to measure both in one run.
BACKEND = "qthread"


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


class JobThread(QThread):
    """Runs submitted jobs in order; a newer job of the same kind cancels the older one."""

    started_job = Signal(object)  # Job
    yielded = Signal(object, object)  # Job, record
    finished_job = Signal(object, object)  # Job, last record (or None)
    failed = Signal(object, str)  # Job, message
    cancelled = Signal(object)  # Job

    def __init__(self, name: str, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._lock = threading.Condition()
        self._pending: dict[str, Job] = {}  # kind -> newest job, in submission order
        self._running: Job | None = None
        self._stopping = False

    def submit(self, job: Job) -> Job:
        """Queue ``job`` (thread-safe); cancel the running and pending jobs of its kind."""
        with self._lock:
            if self._stopping:
                return job
            old = self._pending.pop(job.kind, None)
            if old is not None:
                old.cancel()
                self.cancelled.emit(old)
            if self._running is not None and self._running.kind == job.kind:
                self._running.cancel()
            self._pending[job.kind] = job
            self._lock.notify()
        if not self.isRunning():
            self.start()
        return job

    def busy(self) -> bool:
        with self._lock:
            return self._running is not None or bool(self._pending)

    def stop(self, timeout_ms: int | None = 5000) -> bool:
        """Cancel everything and wait for the thread to end (``None``: however long it takes,
        e.g. to finish reading a dataset); True when it has ended."""
        with self._lock:
            self._stopping = True
            for job in self._pending.values():
                job.cancel()
            self._pending.clear()
            if self._running is not None:
                self._running.cancel()
            self._lock.notify()
        if not self.isRunning():
            return True
        return self.wait() if timeout_ms is None else self.wait(timeout_ms)

    def run(self) -> None:  # worker thread
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                kind = next(iter(self._pending))
                job = self._running = self._pending.pop(kind)
            try:
                self._run_job(job)
            finally:
                with self._lock:
                    self._running = None

    def _run_job(self, job: Job) -> None:
        job.started_at = time.perf_counter()
        self.started_job.emit(job)
        last = None
        records = None
        try:
            records = job.run()
            for record in records:
                if job.is_cancelled:
                    break
                last = record
                self.yielded.emit(job, record)
        except Exception as exc:  # reported in the window; the thread keeps serving
            if not job.is_cancelled:
                job.error = type(exc)
                if not isinstance(exc, (ValueError, ArithmeticError, OSError)):
                    traceback.print_exc()
                self.failed.emit(job, plain_message(exc))
                return
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                close()
        job.ended_at = time.perf_counter()
        if job.is_cancelled:
            self.cancelled.emit(job)
        else:
            self.finished_job.emit(job, last)


def job_queue(name: str, parent=None):
    """A ``JobThread``, or its superqt equivalent when ``BACKEND == "superqt"``."""
    if BACKEND == "superqt":
        from metagui.superqt_workers import WorkerQueue

        return WorkerQueue(name, parent)
    return JobThread(name, parent)
