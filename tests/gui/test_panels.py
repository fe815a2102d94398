"""Defects of the window made of mixins, each fixed in the panels-and-controllers design:
sessions reopen exactly, Enter in a number box, the user's query kept over sampled tasks, views
that never shrink the canvases, long names, messages that end with their cause, whole-step
ticks; and the layering rules (widgets without torch or core, no mixins, small files)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
from gui_helpers import draw, line, make_window
from PySide6.QtCore import Qt
from test_window import SHAPES, adapted, teach

from core.algorithms import build_learner
from core.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[2]


def _checkpoint(tmp_path, algorithm: str, name: str | None = None) -> Path:
    path = tmp_path / (name or f"{algorithm}-random.pt")
    save_checkpoint(path, build_learner(algorithm, {}), {"split": "vinyals"})
    return path


def test_a_session_reopens_its_checkpoint_with_its_steps_and_lr(qtbot, tmp_path):
    maml, anil = _checkpoint(tmp_path, "maml"), _checkpoint(tmp_path, "anil")
    window = make_window(qtbot, maml)
    teach(qtbot, window)
    window.settings.steps.setValue(7)
    window.settings.lr.setValue(0.25)
    window.setup._hyper_changed()
    saved = tmp_path / "maml.metagui"
    assert window.files.save_session_to(saved)
    window.close()
    for how in ("command line", "menu"):  # metagui FILE opens it after the window starts
        other = make_window(qtbot, anil)
        assert other.checkpoint.learner.name == "anil"
        with qtbot.waitSignal(other.learner.loaded, timeout=10_000):
            assert other.files.open_session(saved)
        assert other.checkpoint.learner.name == "maml" and other.learner.path == maml
        assert (other.settings.steps.value(), other.settings.lr.value()) == (7, 0.25), how
        assert (other.learner.steps, other.learner.lr) == (7, 0.25)
        assert other.session.names() == ("A", "B", "C")
        other.close()


def test_a_session_whose_checkpoint_is_missing_says_so_and_keeps_the_learners_own(qtbot, tmp_path):
    maml = _checkpoint(tmp_path, "maml")
    window = make_window(qtbot, maml)
    teach(qtbot, window)
    window.settings.steps.setValue(3)
    window.setup._hyper_changed()
    saved = tmp_path / "s.metagui"
    window.files.save_session_to(saved)
    window.close()
    maml.unlink()
    anil = make_window(qtbot, _checkpoint(tmp_path, "anil"))
    own = (anil.settings.steps.value(), anil.settings.lr.value())
    assert anil.files.open_session(saved)
    assert "maml-random.pt" in anil.banner.text() and "not here" in anil.banner.text()
    assert (anil.settings.steps.value(), anil.settings.lr.value()) == own  # not MAML's 3
    assert anil.checkpoint.learner.name == "anil"
    anil.close()


def test_enter_in_a_number_box_never_adds_the_drawing(qtbot, window):
    for stroke in SHAPES["cross"]:
        draw(qtbot, window.teach.canvas, stroke)
    for box in (window.settings.steps, window.settings.lr, window.settings.ways,
                window.settings.shots):  # fmt: skip
        box.setFocus()
        qtbot.keyClick(box, Qt.Key.Key_Return)
        assert [len(c.examples) for c in window.session.classes] == [0, 0, 0], box.objectName()
    window.teach.canvas.setFocus()
    qtbot.keyClick(window.teach.canvas, Qt.Key.Key_Return)
    assert [len(c.examples) for c in window.session.classes] == [1, 0, 0]


def test_my_classes_bring_back_the_users_query_and_end_the_task_note(
    qtbot, monkeypatch, tiny_root, tmp_path
):
    monkeypatch.setenv("METAGUI_DATA", str(tiny_root))
    window = make_window(qtbot, _checkpoint(tmp_path, "protonet"))
    teach(qtbot, window)
    draw(qtbot, window.query.canvas, line((0.3, 0.3), (0.7, 0.7)))
    mine = window.query.canvas.strokes()
    window.settings.ways.setValue(3)
    window.settings.shots.setValue(1)
    with qtbot.waitSignal(window.background.data_thread.finished_job, timeout=30_000):
        window.settings.sample.click()
    assert "Sampled" in window.status.message.text()
    window.settings.restore.click()
    assert window.session.names() == ("A", "B", "C")
    assert window.query.canvas.strokes() == mine and window.teaching.query_images is None
    assert "Sampled" not in window.status.message.text()
    window.close()


def test_learner_views_never_shrink_the_canvases(qtbot, tmp_path):
    heights = {}
    for algorithm in ("protonet", "mann", "siamese"):
        window = make_window(qtbot, _checkpoint(tmp_path, algorithm))
        window.resize(1280, 800)
        adapted(qtbot, window, lambda w=window: teach(qtbot, w))
        qtbot.wait(50)
        heights[algorithm] = (window.teach.canvas.height(), window.query.canvas.height())
        window.close()
    assert heights["mann"] == heights["protonet"] == heights["siamese"], heights


def test_long_names_show_their_start_and_the_verdict_stays_on_one_line(qtbot, window):
    long = "nic (Cyrillic) 18 ↻180° with a much longer tail than any field"
    window.teaching.rename_class(0, long)
    field = window.teach.panel.rows[0].name
    assert field.cursorPosition() == 0 and field.text() == long
    adapted(qtbot, window, lambda: teach(qtbot, window))
    window.teaching.truth = 0
    window.query.show_prediction(
        window.results.latest.__class__(np.array([[0.9, 0.05, 0.05]]), window.session.names(), 0),
        window.session.names(),
    )
    text = window.query.prediction.text()
    assert "✓ correct" in text and "…" in text and long not in text
    assert not window.query.prediction.wordWrap()
    assert long in window.query.prediction.toolTip()


def test_messages_end_with_their_cause(qtbot, window, tmp_path):
    window.teach.add_drawing(0)  # nothing drawn: a hint
    assert "Draw something" in window.banner.text()
    assert window.files.save_session_to(tmp_path / "s.metagui")
    assert "Draw something" not in window.banner.text()
    teach(qtbot, window)
    window.teaching.message.emit("Exported m.onnx (3 classes)", "info", "export")
    draw(qtbot, window.query.canvas, line((0.2, 0.5), (0.8, 0.5)))
    assert "Exported" not in window.banner.text()
    window.teaching.remove_class(2)
    assert "Removed class" in window.status.message.text()
    window.edit.restore_example_action.trigger()
    assert "Removed class" not in window.status.message.text()
    assert window.session.names() == ("A", "B", "C")


def test_the_loss_plot_ticks_whole_steps(qtbot, window):
    window.settings.steps.setValue(4)
    window.setup._hyper_changed()
    adapted(qtbot, window, lambda: teach(qtbot, window))
    axis = window.model.loss_plot.getAxis("bottom")
    ticks = [v for _spacing, values in axis.tickValues(0, 4, 400) for v in values]
    assert ticks and all(float(v).is_integer() for v in ticks), ticks


def test_widgets_and_panels_import_neither_torch_nor_core():
    code = (
        "import sys, metagui.ui.main_window\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('core.', 'torchvision'))]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, env={"QT_QPA_PLATFORM": "offscreen", "PATH": ""})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_mixins_and_small_files():
    for path in (REPO / "metagui").rglob("*.py"):
        lines = path.read_text().count("\n")
        assert lines <= 320, f"{path.relative_to(REPO)}: {lines} lines"  # about 300
        tree = ast.parse(path.read_text())
        window = [
            n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "MainWindow"
        ]
        for cls in window:
            assert [ast.unparse(b) for b in cls.bases] == ["QMainWindow"]
