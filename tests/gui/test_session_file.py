"""Sessions saved and reopened; damaged or hostile files change nothing."""

from __future__ import annotations

import json
import zipfile

import pytest
from gui_helpers import draw, line
from PIL import Image
from test_window import teach

from metagui.app import session_file


def test_save_and_reopen_gives_the_same_classes_and_query(qtbot, window, tmp_path):
    teach(qtbot, window, per_class=2)
    draw(qtbot, window.query.canvas, line((0.2, 0.5), (0.8, 0.5)))
    window.teaching.rename_class(0, "Bar")
    window.settings.lr.setValue(0.05)
    path = tmp_path / "mine.metagui"
    assert window.files.save_session_to(path) and not window.teaching.dirty
    strokes = [[e.drawing.strokes for e in c.examples] for c in window.session.classes]
    query = window.query.canvas.strokes()
    window.files.new_session()
    assert window.session.names() == ("A", "B", "C") and window.query.canvas.is_empty()
    assert window.files.open_session(path)
    assert window.session.names() == ("Bar", "B", "C")
    assert [[e.drawing.strokes for e in c.examples] for c in window.session.classes] == strokes
    assert window.query.canvas.strokes() == query
    assert window.settings.lr.value() == pytest.approx(0.05)
    assert path in window.files.recent_files()


def test_images_are_saved_as_png(qtbot, window, tmp_path):
    picture = tmp_path / "dot.png"
    image = Image.new("L", (40, 40), 255)
    image.paste(0, (10, 10, 30, 30))
    image.save(picture)
    with qtbot.waitSignal(window.background.files_thread.finished_job, timeout=10_000):
        window.teach.add_files(0, [picture])
    path = tmp_path / "img.metagui"
    assert window.files.save_session_to(path)
    with zipfile.ZipFile(path) as archive:
        assert any(n.endswith(".png") for n in archive.namelist())
    saved = session_file.load(path)
    assert saved.classes[0].examples[0].picture is not None


def _zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _manifest(**extra) -> bytes:
    doc = {"format": "metagui-session", "version": 1, "classes": [], "query": None}
    doc.update(extra)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "kind,expected",
    [
        ("text", "not a zip"),
        ("truncated", "not a zip"),
        ("foreign", "no manifest.json"),
        ("traversal", "unsafe member name"),
        ("bomb", "too large"),
        ("bad-json", "damaged"),
        ("other-format", "not a metagui session file"),
    ],
)
def test_bad_files_get_a_message_and_leave_the_session(
    qtbot, window, tmp_path, monkeypatch, kind, expected
):
    teach(qtbot, window)
    good = tmp_path / "good.metagui"
    window.files.save_session_to(good)
    path = tmp_path / f"{kind}.metagui"
    if kind == "text":
        path.write_text("hello")
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    elif kind == "foreign":
        _zip(path, {"readme.txt": b"hi"})
    elif kind == "traversal":
        _zip(path, {"manifest.json": _manifest(), "../../evil.png": b"x"})
    elif kind == "bomb":
        monkeypatch.setattr(session_file, "MAX_UNPACKED", 1000)
        _zip(path, {"manifest.json": _manifest(), "images/0.png": b"\0" * 5000})
    elif kind == "bad-json":
        _zip(path, {"manifest.json": _manifest(classes=[{"name": "x", "examples": [{}]}])})
    else:
        _zip(path, {"manifest.json": json.dumps({"format": "other"}).encode()})
    before = (window.session.names(), [list(c.examples) for c in window.session.classes])
    assert not window.files.open_session(path)
    assert expected in window.banner.text() and "\n" not in window.banner.text()
    assert (window.session.names(), [list(c.examples) for c in window.session.classes]) == before
