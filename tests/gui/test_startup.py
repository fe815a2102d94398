"""``metagui`` from the command line: bad flags in one line (exit 2), a session file reopened
exactly (its checkpoint, steps and LR), and nothing of torch on the GUI thread before the window."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gui_helpers import draw, make_window
from PIL import Image
from PySide6.QtWidgets import QApplication
from test_panels import _checkpoint
from test_window import SHAPES, teach

from metagui import __main__ as cli
from metagui.control import runtime
from metagui.ui.main_window import MainWindow

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--checkpoint", "nowhere.pt"], "no such checkpoint file: nowhere.pt"),
        (["nowhere.metagui"], "no such session file: nowhere.metagui"),
        (["--threads", "-1"], "--threads must be 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, says):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err


def _contents(window) -> list:
    """Every class's examples: strokes of drawings, pixels of images."""
    return [
        [e.drawing.strokes if e.drawing is not None else e.picture.tobytes() for e in c.examples]
        for c in window.session.classes
    ]


def _run_main(qtbot, monkeypatch, argv: list[str]) -> MainWindow:
    """``cli.main(argv)`` with an event loop that returns once the window's loads are done."""
    seen: list[MainWindow] = []

    def exec_until_loaded(app) -> int:
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
        window.files.ask_before_discard = False
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: window.checkpoint is not None and not window.learner.busy(),
                        timeout=15_000)  # fmt: skip
        seen.append(window)
        return 0

    monkeypatch.setattr(QApplication, "exec", exec_until_loaded)
    monkeypatch.setattr(runtime, "freeze_startup_objects", gc.collect)  # no freeze in tests
    assert cli.main(argv) == 0
    return seen[0]


def test_a_session_given_on_the_command_line_reopens_exactly(qtbot, monkeypatch, tmp_path):
    maml, anil = _checkpoint(tmp_path, "maml"), _checkpoint(tmp_path, "anil")
    window = make_window(qtbot, maml)
    teach(qtbot, window)
    picture = tmp_path / "dot.png"
    image = Image.new("L", (40, 40), 255)
    image.paste(0, (10, 10, 30, 30))
    image.save(picture)
    with qtbot.waitSignal(window.background.files_thread.finished_job, timeout=10_000):
        window.teach.add_files(1, [picture])  # a dropped image beside the drawings
    for stroke in SHAPES["cross"]:
        draw(qtbot, window.query.canvas, stroke)
    classes = _contents(window)
    query = window.query.canvas.strokes()
    window.settings.steps.setValue(7)
    window.settings.lr.setValue(0.25)
    window.setup._hyper_changed()
    saved = tmp_path / "maml.metagui"
    assert window.files.save_session_to(saved)
    window.close()

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    other = _run_main(qtbot, monkeypatch, ["--checkpoint", str(anil), "--threads", "1", str(saved)])
    try:
        assert other.checkpoint.learner.name == "maml" and other.learner.path == maml
        assert (other.settings.steps.value(), other.settings.lr.value()) == (7, 0.25)
        assert (other.learner.steps, other.learner.lr) == (7, 0.25)
        assert other.session.names() == ("A", "B", "C")
        assert _contents(other) == classes and other.query.canvas.strokes() == query
        assert os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        other.close()


def test_the_gui_thread_builds_the_window_without_torch(tmp_path):
    """The first paint does not wait for torch: the GUI thread imports Qt and the window's
    modules only; torch loads on the model thread with the first checkpoint."""
    code = (
        "import sys, threading\n"
        "from PySide6.QtWidgets import QMainWindow\n"
        "importers = []\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch':\n"
        "            importers.append(threading.current_thread() is threading.main_thread())\n"
        "sys.meta_path.insert(0, Watch())\n"
        "def show(window):\n"
        "    print('main thread imported torch:', any(importers), flush=True)\n"
        "    raise SystemExit(0)\n"
        "QMainWindow.show = show\n"
        "from metagui.__main__ import main\n"
        "main([])\n"
    )
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "", "XDG_CONFIG_HOME": str(tmp_path),
           "METAGUI_CHECKPOINTS": str(REPO / "assets" / "checkpoints")}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env=env, timeout=120)  # fmt: skip
    assert "main thread imported torch: False" in out.stdout, out.stdout + out.stderr


def test_a_shipped_checkpoint_can_be_named(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # from any folder
    monkeypatch.delenv("METAGUI_CHECKPOINTS", raising=False)
    chosen = cli.parse_args(["--checkpoint", "anil-omniglot"]).checkpoint
    assert chosen.is_file() and chosen.name == "anil-omniglot.pt"
