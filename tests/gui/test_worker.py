"""The job queue (superqt workers): one signal per record, newest wins, errors reported, clean
stop within a second."""

from __future__ import annotations

import threading
import time

import torch

from core.algorithms import build_learner
from metagui.app import compute as jobs
from metagui.app.session import DRAWING_SPEC, Session
from metagui.control.worker import Job, JobQueue

CPU = torch.device("cpu")


def slow(n: int, delay: float = 0.01, gate: threading.Event | None = None):
    def run():
        for i in range(n):
            if gate is not None:
                gate.wait(5)
            time.sleep(delay)
            yield i

    return run


def test_one_signal_per_record_then_finished(qtbot):
    thread = JobQueue("test")
    records = []
    thread.yielded.connect(lambda job, r: records.append(r))
    with qtbot.waitSignal(thread.finished_job, timeout=5000) as blocker:
        thread.submit(Job("k", slow(5, 0.0)))
    assert records == [0, 1, 2, 3, 4]
    assert blocker.args[1] == 4
    assert thread.stop()


def test_adaptation_records_through_the_worker(qtbot):
    torch.manual_seed(0)
    learner = build_learner("protonet", {})
    session = Session(("a", "b"))
    session.add_examples(0, [jobs_example(0)])
    session.add_examples(1, [jobs_example(1)])
    support = session.support_set()
    thread = JobQueue("test")
    steps = []
    thread.yielded.connect(lambda job, r: steps.append(r.step))
    with qtbot.waitSignal(thread.finished_job, timeout=10_000) as blocker:
        thread.submit(
            Job("adapt", lambda: jobs.adapt(learner, DRAWING_SPEC, support, [], 4, 0.01, CPU))
        )
    assert steps == [0, 1, 2, 3, 4]
    last = blocker.args[1]
    assert last.total_steps == 4 and last.probs is None and last.classifier.n_way == 2
    thread.stop()


def jobs_example(seed: int):
    from metagui.app.session import Example

    g = torch.Generator().manual_seed(seed)
    return Example((torch.rand(1, 28, 28, generator=g) > 0.8).float(), "test")


def test_newest_wins_under_a_burst(qtbot):
    thread = JobQueue("test")
    finished, cancelled = [], []
    thread.finished_job.connect(lambda job, r: finished.append(job.id))
    thread.cancelled.connect(lambda job: cancelled.append(job.id))
    burst = [Job("adapt", slow(50, 0.005)) for _ in range(20)]
    with qtbot.waitSignal(thread.finished_job, timeout=10_000):
        for job in burst:
            thread.submit(job)
    qtbot.wait(50)
    assert finished == [burst[-1].id]
    assert set(cancelled) == {j.id for j in burst[:-1]}
    assert all(j.is_cancelled for j in burst[:-1])
    thread.stop()


def test_other_kinds_are_not_cancelled(qtbot):
    thread = JobQueue("test")
    finished = []
    thread.finished_job.connect(lambda job, r: finished.append(job.kind))
    with qtbot.waitSignals([thread.finished_job, thread.finished_job], timeout=5000):
        thread.submit(Job("load", slow(3)))
        thread.submit(Job("adapt", slow(3)))
    assert sorted(finished) == ["adapt", "load"]
    thread.stop()


def test_errors_become_messages_and_the_thread_keeps_serving(qtbot):
    def broken():
        yield 1
        raise ValueError("the support set is empty: add at least one example to each class")

    thread = JobQueue("test")
    with qtbot.waitSignal(thread.failed, timeout=5000) as blocker:
        thread.submit(Job("adapt", broken))
    assert blocker.args[1].startswith("the support set is empty")
    with qtbot.waitSignal(thread.finished_job, timeout=5000):
        thread.submit(Job("adapt", slow(2)))
    thread.stop()


def test_stop_mid_job_ends_the_thread(qtbot):
    gate = threading.Event()
    thread = JobQueue("test")
    with qtbot.waitSignal(thread.started_job, timeout=5000):
        thread.submit(Job("adapt", slow(10_000, 0.001, gate)))
    gate.set()
    assert thread.stop(timeout_ms=5000)
    assert not thread.isRunning()


def test_runtime_errors_are_reported_too(qtbot):
    """torch raises RuntimeError (e.g. a shape mismatch); superqt's GeneratorWorker alone would
    swallow it as a warning, emitting neither ``errored`` nor ``finished``."""

    def broken():
        yield 1
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    thread = JobQueue("test")
    with qtbot.waitSignal(thread.failed, timeout=5000) as blocker:
        job = thread.submit(Job("adapt", broken))
    assert "shapes cannot be multiplied" in blocker.args[1]
    assert job.error is RuntimeError
    qtbot.waitUntil(lambda: not thread.busy(), timeout=5000)
    assert thread.stop()


def test_stop_ends_a_long_job_within_a_second_and_closes_its_generator(qtbot):
    closed = threading.Event()

    def endless():
        try:
            while True:
                time.sleep(0.05)
                yield 0
        finally:
            closed.set()  # e.g. background.load_bank_cancellable terminating its child

    thread = JobQueue("test")
    finished = []
    thread.finished_job.connect(lambda job, r: finished.append(job.id))
    with qtbot.waitSignal(thread.yielded, timeout=5000):
        job = thread.submit(Job("sample", endless))
    start = time.perf_counter()
    assert thread.stop(timeout_ms=5000)
    assert time.perf_counter() - start < 1.0
    assert closed.is_set() and job.is_cancelled and not thread.isRunning()
    qtbot.wait(50)
    assert finished == []


def test_a_superseded_job_yields_nothing_more(qtbot):
    thread = JobQueue("test")
    seen = []
    thread.yielded.connect(lambda job, r: seen.append(job.id))
    with qtbot.waitSignal(thread.yielded, timeout=5000):
        old = thread.submit(Job("adapt", slow(1000, 0.005)))
    with qtbot.waitSignal(thread.finished_job, timeout=5000) as blocker:
        new = thread.submit(Job("adapt", slow(3, 0.0)))
    assert blocker.args[0] is new and old.is_cancelled
    after = seen[seen.index(new.id) :]
    assert old.id not in after  # nothing of the old job once the new one ran
    assert seen.count(new.id) == 3
    thread.stop()
