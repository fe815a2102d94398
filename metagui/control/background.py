"""Work that is not a learner's: decoding dropped files, and sampling Omniglot tasks.

The first sampled task decodes the Omniglot test classes (tens of seconds). That runs in a child
process, so that closing the window (or a newer request) ends it at once: a thread cannot be
interrupted inside core's decoder, a process can be terminated.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import pickle
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.data.spec import PreprocessSpec
from core.data.splits import ClassBank, load_split
from metagui.app import compute as jobs
from metagui.control.worker import Job, JobQueue


@dataclass(frozen=True)
class FilesRead:
    """Decoded files for ``target`` (a ``TaskClass``, or None for the query)."""

    target: object
    results: list[jobs.LoadedFile]


@dataclass(frozen=True)
class Decoding:
    """The test classes are being decoded; ``seconds`` since it began. ``done`` of ``total``
    images of the Omniglot set ``source`` ("background" or "evaluation") are decoded; ``total``
    is 0 until the first image is (starting the process, or reading the cache)."""

    split: str
    seconds: float
    source: str = ""
    done: int = 0
    total: int = 0


#: The child process reports decoding progress at most this often (seconds).
PROGRESS_INTERVAL_S = 0.1


def _load_bank(root: str, split: str, conn) -> None:  # in the child process
    """Send ("progress", set, done, total) messages while decoding, then ("bank", ClassBank)
    or ("error", text)."""
    last = 0.0

    def progress(which: str, done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done == total or now - last >= PROGRESS_INTERVAL_S:
            last = now
            conn.send_bytes(pickle.dumps(("progress", which, done, total)))

    try:
        message = ("bank", load_split(Path(root), split, "test", progress=progress))
    except Exception as exc:  # sent back as the message of a ValueError
        message = ("error", str(exc) or type(exc).__name__)
    try:  # plain pickle: the tensors are copied, not shared through file descriptors
        conn.send_bytes(pickle.dumps(message))
    finally:
        conn.close()


def load_bank_cancellable(root: Path, split: str) -> Iterator[Decoding | ClassBank]:
    """Decode ``split``'s test classes in a child process; yields a Decoding (with the
    child's latest progress) every 0.1 s and on every progress message, then the bank.
    Closing the generator (a cancelled job) terminates the child at once."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_load_bank, args=(str(root), split, child), daemon=True)
    start = time.perf_counter()
    process.start()
    child.close()
    source, done, total = "", 0, 0
    try:
        while True:
            if not parent.poll(PROGRESS_INTERVAL_S):
                if not process.is_alive() and not parent.poll(0):
                    raise ValueError(
                        f"reading the Omniglot data stopped (exit code {process.exitcode})"
                    )
                yield Decoding(split, time.perf_counter() - start, source, done, total)
                continue
            try:
                kind, *payload = pickle.loads(parent.recv_bytes())  # from our own child
            except EOFError:
                raise ValueError(
                    f"reading the Omniglot data stopped (exit code {process.exitcode})"
                ) from None
            if kind == "progress":
                source, done, total = payload
                yield Decoding(split, time.perf_counter() - start, source, done, total)
            elif kind == "error":
                raise ValueError(payload[0])
            else:
                yield payload[0]
                return
    finally:
        if process.is_alive():
            process.terminate()
        process.join(1)
        parent.close()


def sample(
    bank: ClassBank | None, root: Path, split: str, ways: int, shots: int
) -> Iterator[Decoding | ClassBank | jobs.SampledTask]:
    """Decode once (``bank`` None: the decoded bank is yielded so the GUI thread keeps it),
    then sample a task. The worker gets the bank itself, never the GUI thread's dict of them."""
    if bank is None:
        with contextlib.closing(load_bank_cancellable(root, split)) as records:
            for record in records:
                yield record
                if isinstance(record, ClassBank):
                    bank = record
    yield from jobs.sample_task({(str(root), split): bank}, root, split, ways, shots)


class Background(QObject):
    """Two worker threads: ``filesWorker`` (decoding files) and ``dataWorker`` (tasks)."""

    filesRead = Signal(object)  # FilesRead
    decoding = Signal(object)  # Decoding
    sampled = Signal(object)  # jobs.SampledTask
    busyChanged = Signal(bool)  # a task is being sampled
    failed = Signal(str)
    exported = Signal(str)  # what was written

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.files_thread = JobQueue("filesWorker", self)
        self.data_thread = JobQueue("dataWorker", self)
        self._banks: dict[tuple[str, str], ClassBank] = {}
        self._file_jobs = itertools.count()  # file jobs never cancel each other
        self._query_job: int | None = None
        self._sample_job: int | None = None
        self.files_thread.finished_job.connect(self._files_done)
        self.files_thread.failed.connect(lambda _job, message: self.failed.emit(message))
        self.files_thread.finished_job.connect(self._exported)
        self.data_thread.yielded.connect(self._data_record)
        self.data_thread.finished_job.connect(self._data_done)
        self.data_thread.failed.connect(self._data_failed)

    def threads(self) -> tuple[JobQueue, JobQueue]:
        return self.files_thread, self.data_thread

    def read(self, paths: Sequence[Path], spec: PreprocessSpec, target: object) -> Job:
        """Decode ``paths`` with ``spec`` for ``target`` (None: the query, newest wins)."""
        paths = [Path(p) for p in paths]
        kind = "query" if target is None else f"files{next(self._file_jobs)}"
        job = Job(kind, lambda: jobs.load_files(paths, spec), target)
        if target is None:
            self._query_job = job.id
        return self.files_thread.submit(job)

    def export(self, learner, spec, support, steps, lr, out: Path) -> Job:
        """Adapt ``learner`` to ``support`` and write ``out`` (core.export) on the files thread."""

        def run():
            from core.export import adapt_classifier, export_classifier

            classifier = adapt_classifier(learner, support.images, support.labels, steps, lr)
            export_classifier(classifier, support.names, spec, out, support.images[:1])
            yield f"Exported {out.name} ({len(support.names)} classes: {', '.join(support.names)})"

        return self.files_thread.submit(Job("export", run, "export"))

    def _exported(self, job: Job, last) -> None:
        if job.kind == "export" and isinstance(last, str):
            self.exported.emit(last)

    def _files_done(self, job: Job, results) -> None:
        if job.kind == "export":
            return
        if job.context is None and job.id != self._query_job:
            return
        self.filesRead.emit(FilesRead(job.context, results))

    def sample(self, root: Path, split: str, ways: int, shots: int) -> Job:
        bank = self._banks.get((str(root), split))  # read here, on the GUI thread
        job = Job("sample", lambda: sample(bank, root, split, ways, shots))
        self._sample_job = job.id
        self.busyChanged.emit(True)
        return self.data_thread.submit(job)

    def _data_record(self, job: Job, record) -> None:
        if job.id != self._sample_job:
            return
        if isinstance(record, Decoding):
            self.decoding.emit(record)
        elif isinstance(record, ClassBank):  # kept on the GUI thread for the next tasks
            self._banks[(str(record.root), record.split)] = record

    def _data_done(self, job: Job, last) -> None:
        if job.id != self._sample_job:
            return
        self.busyChanged.emit(False)
        if isinstance(last, jobs.SampledTask):
            self.sampled.emit(last)

    def _data_failed(self, job: Job, message: str) -> None:
        if job.id == self._sample_job:
            self.busyChanged.emit(False)
            self.failed.emit(f"Could not sample an Omniglot task: {message}")

    def stop(self) -> None:
        """Cancel everything; a decoding child process is terminated, so this is quick."""
        for thread in self.threads():
            thread.stop(2000)
