"""Work that is not a learner's: decoding dropped files, exporting, and sampling tasks.

Two worker threads: ``filesWorker`` (decoding files, exports) and ``dataWorker`` (tasks; the
first task of a dataset loads its test classes in a child process: ``metagui.app.tasks``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from metagui.app import tasks
from metagui.app.tasks import Decoding, SampledTask, TaskSource
from metagui.control.worker import Job, JobQueue


@dataclass(frozen=True)
class FilesRead:
    """Decoded files (``results``: ``compute.LoadedFile``) for ``target`` (a ``TaskClass``, or
    None for the query)."""

    target: object
    results: list


class Background(QObject):
    filesRead = Signal(object)  # FilesRead
    decoding = Signal(object)  # tasks.Decoding
    sampled = Signal(object)  # tasks.SampledTask
    busyChanged = Signal(bool)  # a task is being sampled
    failed = Signal(str)
    exported = Signal(str)  # what was written
    described = Signal(object)  # checkpoints.TrainingData: what a listed checkpoint learned on

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.files_thread = JobQueue("filesWorker", self)
        self.data_thread = JobQueue("dataWorker", self)
        self._datasets: dict[tuple, object] = {}  # loaded test classes, by source
        self._file_jobs = itertools.count()  # file jobs never cancel each other
        self._query_job: int | None = None
        self._sample_job: int | None = None
        self.files_thread.yielded.connect(self._files_record)
        self.files_thread.finished_job.connect(self._files_done)
        self.files_thread.failed.connect(self._files_failed)
        self.data_thread.yielded.connect(self._data_record)
        self.data_thread.finished_job.connect(self._data_done)
        self.data_thread.failed.connect(self._data_failed)

    def threads(self) -> tuple[JobQueue, JobQueue]:
        return self.files_thread, self.data_thread

    def read(self, paths: Sequence[Path], spec, target: object) -> Job:
        """Decode ``paths`` with ``spec`` for ``target`` (None: the query, newest wins)."""
        paths = [Path(p) for p in paths]
        kind = "query" if target is None else f"files{next(self._file_jobs)}"

        def run():
            from metagui.app import compute

            return compute.load_files(paths, spec)

        job = Job(kind, run, target)
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

    def describe(self, paths: Sequence[Path]) -> Job:
        """Read what each checkpoint of ``paths`` was trained on (``described``, one by one)."""
        paths = [Path(p) for p in paths]

        def run():
            from metagui.app.checkpoints import describe_checkpoints

            yield from describe_checkpoints(paths)

        return self.files_thread.submit(Job("describe", run, None))

    def _files_record(self, job: Job, record) -> None:
        if job.kind == "describe":
            self.described.emit(record)

    def _files_done(self, job: Job, last) -> None:
        if job.kind == "describe":
            return
        if job.kind == "export":
            if isinstance(last, str):
                self.exported.emit(last)
            return
        if job.context is None and job.id != self._query_job:
            return
        self.filesRead.emit(FilesRead(job.context, last))

    def _files_failed(self, job: Job, message: str) -> None:
        what = "Could not export" if job.kind == "export" else "Could not read the files"
        self.failed.emit(f"{what}: {message}")

    @staticmethod
    def _key(source: TaskSource) -> tuple:
        return (source.name, source.split, str(source.root), source.spec)

    def sample(self, source: TaskSource, ways: int, shots: int) -> Job:
        dataset = self._datasets.get(self._key(source))  # read here, on the GUI thread
        job = Job("sample", lambda: tasks.sample(dataset, source, ways, shots), source)
        self._sample_job = job.id
        self.busyChanged.emit(True)
        return self.data_thread.submit(job)

    def _data_record(self, job: Job, record) -> None:
        if job.id != self._sample_job:
            return
        if isinstance(record, Decoding):
            self.decoding.emit(record)
        elif not isinstance(record, SampledTask):  # kept on the GUI thread for the next tasks
            self._datasets[self._key(job.context)] = record

    def _data_done(self, job: Job, last) -> None:
        if job.id != self._sample_job:
            return
        self.busyChanged.emit(False)
        if isinstance(last, SampledTask):
            self.sampled.emit(last)

    def _data_failed(self, job: Job, message: str) -> None:
        if job.id == self._sample_job:
            self.busyChanged.emit(False)
            self.failed.emit(f"Could not sample a task: {message}")

    def stop(self) -> None:
        """Cancel everything; a decoding child process is terminated, so this is quick."""
        for thread in self.threads():
            thread.stop(2000)
