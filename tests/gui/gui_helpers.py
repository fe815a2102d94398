"""Helpers for the GUI tests: simulated strokes and drops, Omniglot files to drop."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent


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
    # Qt delivers drop events only inside a real drag, so hand the event to the handler directly
    widget.dropEvent(event)
    assert event.isAccepted(), f"{widget.objectName()} refused the drop"


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


def make_window(qtbot, checkpoint: Path | None):
    from metagui.ui.main_window import MainWindow

    window = MainWindow(checkpoint=checkpoint)
    window.files.ask_before_discard = False  # no modal question when the test closes it
    qtbot.addWidget(window)
    window.show()
    if checkpoint is not None:
        qtbot.waitUntil(lambda: window.checkpoint is not None, timeout=10_000)
    return window
