"""The "Learn to learn" view end to end on the tiny dataset: start, live records, pause, resume,
"Try it now" (the main learner takes the weights), stop (the model joins the Checkpoint box and
core.evaluate scores it), closing the window during a run, and a killed run's message."""

from __future__ import annotations

import json
import os

from gui_helpers import make_window
from PySide6.QtCore import Qt
from test_live import TINY_LIVE

from core import evaluate
from core.checkpoint import load_checkpoint
from metagui.app.live import LIVE_NICE, runs_dir
from metagui.control.metatrain import RunState
from metagui.ui.widgets.learn_controls import NO_PRESET

TIMEOUT = 60_000


def _ready(window, tiny_root):
    """The view on the tiny dataset, with a few-second recipe instead of the default one."""
    panel = window.learn
    window.tabs.setCurrentWidget(panel)  # shown: the choices are filled from core
    assert panel.setup.algorithm.currentText() == "protonet"
    assert panel.setup.preset.currentData() == "protonet-vinyals-fast"  # the default recipe
    panel.setup.preset.setCurrentIndex(panel.setup.preset.findText(NO_PRESET))
    panel.setup.minutes.setValue(0)
    panel.extra = (*TINY_LIVE, "--data-root", str(tiny_root))
    return panel


def test_learn_to_learn_end_to_end(qtbot, window, tiny_root, capsys):
    panel, trainer = _ready(window, tiny_root), window.metatrain
    with qtbot.waitSignals(
        [trainer.started, trainer.stepped, trainer.evaluated, trainer.thumbnails], timeout=TIMEOUT
    ):
        qtbot.mouseClick(panel.buttons.start, Qt.MouseButton.LeftButton)
    assert trainer.state is RunState.RUNNING and not panel.buttons.start.isEnabled()
    assert not panel.setup.algorithm.isEnabled()
    if hasattr(os, "getpriority"):  # the run yields the CPU to the window (POSIX)
        pid = trainer.process.processId()
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, mine + LIVE_NICE)
    qtbot.waitUntil(lambda: panel.picture.step > 0, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: len(panel.held_out_plot.latest()) == 2, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "episodes/s" in panel.figures.speed.text(), timeout=TIMEOUT)
    assert len(panel.loss_plot.steps) > 0 and "step" in panel.figures.progress.text()

    panel.buttons.pause.click()
    qtbot.waitUntil(lambda: trainer.state is RunState.PAUSED, timeout=TIMEOUT)
    assert panel.buttons.resume.isEnabled() and not panel.buttons.pause.isEnabled()
    steps = len(panel.loss_plot.steps)
    qtbot.wait(300)
    assert len(panel.loss_plot.steps) == steps  # no training while paused
    panel.buttons.resume.click()
    qtbot.waitUntil(lambda: trainer.state is RunState.RUNNING, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: len(panel.loss_plot.steps) > steps, timeout=TIMEOUT)

    with qtbot.waitSignal(window.learner.loaded, timeout=TIMEOUT) as loaded:
        panel.buttons.try_now.click()
    tried = loaded.args[0].path
    assert tried.parent == trainer.out and tried.name.startswith("now-")
    assert window.learner.path == tried and window.tabs.currentIndex() == 0  # the Teach tab
    assert window.settings.checkpoint.findData(str(tried)) >= 0

    window.tabs.setCurrentWidget(panel)
    with qtbot.waitSignal(trainer.done, timeout=TIMEOUT) as done:
        panel.buttons.stop.click()
    model = done.args[0].path
    assert model == trainer.out / f"{trainer.out.name}.pt" and trainer.out.parent == runs_dir()
    assert window.settings.checkpoint.findData(str(model)) >= 0
    assert str(model) in panel.figures.message.text()
    assert "Calibrating" in panel.figures.message.text()
    with qtbot.waitSignal(window.calibrator.finished, timeout=TIMEOUT) as calibrated:
        pass
    path, problem = calibrated.args
    assert path == model and problem == "", problem
    assert (model.parent / f"{model.stem}.openset.json").is_file()
    assert "answer is calibrated" in panel.figures.message.text()
    assert trainer.state is RunState.IDLE and panel.buttons.start.isEnabled()
    assert load_checkpoint(trainer.out / "last.pt").training_state["step"] == done.args[0].step
    capsys.readouterr()
    assert (
        evaluate.main(
            ["--checkpoint", str(model), "--episodes", "3", "--json", "--data-root", str(tiny_root)]
        )
        == 0
    )
    assert 0 <= json.loads(capsys.readouterr().out)["accuracy"] <= 1
    # ... and in the Checkpoint box of the next window
    other = make_window(qtbot, None)
    assert other.settings.checkpoint.findData(str(model)) >= 0
    other.close()


def test_a_killed_run_ends_in_a_message(qtbot, window, tiny_root):
    panel, trainer = _ready(window, tiny_root), window.metatrain
    with qtbot.waitSignal(trainer.stepped, timeout=TIMEOUT):
        panel.start()
    with qtbot.waitSignal(trainer.failed, timeout=TIMEOUT) as failed:
        trainer.kill()
    assert failed.args[0].startswith("Meta-training ended:") and "\n" not in failed.args[0]
    assert panel.figures.message.text() == failed.args[0]
    assert trainer.state is RunState.IDLE and panel.buttons.start.isEnabled()
    assert window.isVisible()


def test_closing_the_window_stops_the_run_within_a_second_keeping_its_step(
    qtbot, tiny_root, random_checkpoint
):
    import time

    window = make_window(qtbot, random_checkpoint)
    panel, trainer = _ready(window, tiny_root), window.metatrain
    with qtbot.waitSignal(trainer.stepped, timeout=TIMEOUT):
        panel.start()
    qtbot.waitUntil(lambda: len(panel.loss_plot.steps) >= 3, timeout=TIMEOUT)
    out = trainer.out
    start = time.monotonic()
    trainer.stop(900)  # what closeEvent does first
    assert time.monotonic() - start < 1.0 and not trainer.running
    assert load_checkpoint(out / "last.pt").training_state["step"] >= 3
    assert (out / f"{out.name}.pt").is_file()
    window.close()


def test_a_calibration_that_cannot_run_says_why(qtbot, window, tmp_path, random_checkpoint):
    model = tmp_path / "model.pt"
    model.write_bytes(random_checkpoint.read_bytes())
    calibrator = window.calibrator
    with qtbot.waitSignal(calibrator.finished, timeout=TIMEOUT) as calibrated:
        calibrator.start(model, tmp_path / "no-data-here")
    path, problem = calibrated.args
    assert path == model and problem and "\n" not in problem
    assert not (tmp_path / "model.openset.json").exists() and not calibrator.running
