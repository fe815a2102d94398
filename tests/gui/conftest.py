"""GUI test fixtures: no leaked QThreads, checkpoints, Omniglot files to drop, drawing helpers."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
import torch
from gui_helpers import make_window

pytest.importorskip("pytestqt")
from PySide6.QtCore import QEvent, QThread
from PySide6.QtWidgets import QApplication

from core.algorithms import build_learner
from core.checkpoint import save_checkpoint
from metagui.control.worker import JobQueue

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "assets" / "checkpoints" / "protonet-omniglot.pt"

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_dangling_qthreads(monkeypatch):
    """Fail a test that leaves a QThread or a job queue's worker running (as napari's
    ``_dangling_qthreads`` does)."""
    started: list[weakref.ref] = []
    original = QThread.start
    original_submit = JobQueue.submit

    def start(self, *args, **kwargs):
        started.append(weakref.ref(self))
        return original(self, *args, **kwargs)

    def submit(self, job):
        started.append(weakref.ref(self))
        return original_submit(self, job)

    monkeypatch.setattr(QThread, "start", start)
    monkeypatch.setattr(JobQueue, "submit", submit)
    yield
    running = []
    for ref in started:
        thread = ref()
        try:
            if thread is None or not thread.isRunning():
                continue
            if isinstance(thread, JobQueue):  # a job still running on its pool's thread
                if not thread._pool.waitForDone(500):
                    running.append(thread.objectName())
            elif not thread.wait(500):
                running.append(thread.objectName() or repr(thread))
        except RuntimeError:  # the C++ object is gone, so is its thread
            pass
    if running:
        pytest.fail(f"test left QThread(s) running: {', '.join(running)}")
    _delete_closed_widgets()


def _delete_closed_widgets() -> None:
    """Destroy the widgets pytest-qt closed (``deleteLater``) now, while no worker runs.
    ``processEvents`` leaves deferred deletions queued: without this they happen inside the
    next test's event loop, tearing down the old window's plots while the new window's
    worker is loading its checkpoint."""
    app = QApplication.instance()
    if app is None:
        return
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Every test sees its own (empty) checkpoint folder unless it sets one."""
    folder = tmp_path / "no-checkpoints"
    folder.mkdir()
    monkeypatch.setenv("METAGUI_CHECKPOINTS", str(folder))
    monkeypatch.setenv("METAGUI_RUNS", str(tmp_path / "runs"))  # "Learn to learn" runs
    from PySide6.QtCore import QSettings  # recent files and geometry: not the user's own

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path))


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory) -> Path:
    """An untrained ProtoNet checkpoint (fast, always available; predictions meaningless)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "protonet-random.pt"
    save_checkpoint(path, build_learner("protonet", {}), {"split": "vinyals"})
    return path


@pytest.fixture(scope="session")
def shipped_checkpoint() -> Path:
    if not SHIPPED.is_file():
        pytest.skip(f"the shipped checkpoint {SHIPPED.relative_to(REPO)} is absent")
    return SHIPPED


@pytest.fixture
def window(qtbot, random_checkpoint):
    """The window on an untrained checkpoint; closed (threads stopped) after the test."""
    w = make_window(qtbot, random_checkpoint)
    yield w
    w.close()
