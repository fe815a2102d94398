"""GUI test fixtures: no leaked QThreads, checkpoints, Omniglot files to drop, drawing helpers."""

from __future__ import annotations

import io
import weakref
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

pytest.importorskip("pytestqt")
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QThread, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from core.algorithms import build_learner
from core.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "assets" / "checkpoints" / "protonet-omniglot.pt"

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_dangling_qthreads(monkeypatch):
    """Fail a test that leaves a QThread running (as napari's ``_dangling_qthreads`` does)."""
    started: list[weakref.ref] = []
    original = QThread.start

    def start(self, *args, **kwargs):
        started.append(weakref.ref(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start)
    yield
    running = []
    for ref in started:
        thread = ref()
        try:
            if thread is not None and thread.isRunning() and not thread.wait(500):
                running.append(thread.objectName() or repr(thread))
        except RuntimeError:  # the C++ object is gone, so is its thread
            pass
    if running:
        pytest.fail(f"test left QThread(s) running: {', '.join(running)}")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Every test sees its own (empty) checkpoint folder unless it sets one."""
    folder = tmp_path / "no-checkpoints"
    folder.mkdir()
    monkeypatch.setenv("METAGUI_CHECKPOINTS", str(folder))


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


def make_window(qtbot, checkpoint: Path | None):
    from metagui.main_window import MainWindow

    window = MainWindow(checkpoint=checkpoint)
    qtbot.addWidget(window)
    window.show()
    if checkpoint is not None:
        qtbot.waitUntil(lambda: window.checkpoint is not None, timeout=10_000)
    return window


@pytest.fixture
def window(qtbot, random_checkpoint):
    """The window on an untrained checkpoint; closed (threads stopped) after the test."""
    w = make_window(qtbot, random_checkpoint)
    yield w
    w.close()


def draw(qtbot, canvas, points) -> None:
    """One stroke with simulated mouse events; ``points`` in the unit square."""
    square = canvas.square()

    def at(p):
        return QPoint(
            round(square.left() + p[0] * square.width()),
            round(square.top() + p[1] * square.height()),
        )

    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(points[0]))
    for p in points[1:]:
        qtbot.mouseMove(canvas, at(p))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(points[-1]))


def line(a, b, n=8):
    return [
        (a[0] + (b[0] - a[0]) * i / (n - 1), a[1] + (b[1] - a[1]) * i / (n - 1)) for i in range(n)
    ]


def drop_files(widget, paths) -> None:
    """Deliver a drop of local files to ``widget`` as a drag-and-drop would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(widget.width() / 2, widget.height() / 2),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


def extract_characters(root: Path, dest: Path, count: int, drawers: int) -> list[list[Path]]:
    """PNG files of ``count`` Omniglot evaluation characters (different alphabets), ``drawers``
    drawings each, copied out of the release zip into ``dest``."""
    with zipfile.ZipFile(root / "omniglot" / "images_evaluation.zip") as archive:
        by_char: dict[str, list[str]] = {}
        for name in sorted(archive.namelist()):
            if name.endswith(".png"):
                by_char.setdefault(name.rsplit("/", 1)[0], []).append(name)
        chosen, alphabets = [], set()
        for char, files in by_char.items():
            alphabet = char.split("/")[-2]
            if alphabet not in alphabets:
                alphabets.add(alphabet)
                chosen.append(files[:drawers])
            if len(chosen) == count:
                break
        out = []
        for i, files in enumerate(chosen):
            paths = []
            for name in files:
                path = dest / f"class{i}" / Path(name).name
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.open(io.BytesIO(archive.read(name))).save(path)
                paths.append(path)
            out.append(paths)
    return out
