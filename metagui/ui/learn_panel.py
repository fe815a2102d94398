"""The "Learn to learn" view: meta-training live, bound to the ``MetaTrainer`` controller.

The user picks a learner, a dataset and split, a recipe (default: the fast ProtoNet recipe) or a
shipped checkpoint to fine-tune, and watches the outer loop: the meta-training loss per step,
few-shot accuracy on held-out classes climbing from chance against training time, episodes per
second and the time left, and a picture of the episode being trained on. "Try it now" hands the
weights reached so far to the main learner (``load``); the finished model is added to the
Checkpoint box (``add_checkpoint``). Core's registries are read when the view is first shown
(importing core at start-up would slow the window's first paint).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QGridLayout, QVBoxLayout, QWidget

from metagui.app.checkpoints import shipped_checkpoints
from metagui.app.live import (
    DEFAULT_PRESET,
    PAPER,
    PAPER_NAME,
    LiveDone,
    LiveEval,
    LiveSaved,
    LiveStarted,
    LiveStep,
    LiveThumbnails,
    RunRequest,
    preset_algorithm,
    run_choices,
)
from metagui.control.calibrate import Calibrator
from metagui.control.metatrain import MetaTrainer, RunState
from metagui.control.throttle import Throttle
from metagui.ui.widgets.learn_controls import (
    NO_PRESET,
    EpisodePicture,
    RunButtons,
    RunFigures,
    RunSetup,
)
from metagui.ui.widgets.learn_plots import HeldOutPlot, MetaLossPlot

#: Plots and figures are redrawn at most this often.
DRAW_INTERVAL_MS = 250
SETTINGS = ((5, 1), (20, 1))


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _rate(per_second: float) -> str:
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.1f}"


class LearnPanel(QWidget):
    handedOver = Signal(object)  # Path: "Try it now" gave the main learner these weights

    def __init__(
        self,
        trainer: MetaTrainer,
        load: Callable[[Path], object],
        add_checkpoint: Callable[[Path], None],
        calibrator: Calibrator | None = None,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("learnPanel")
        self.trainer, self.load, self.add_checkpoint = trainer, load, add_checkpoint
        self.calibrator = calibrator
        self._ended = ""  # what the last run's end said
        self.extra: tuple[str, ...] = ()  # more core.train flags (tests, scripts)
        self.data_root: Path | None = None
        self.choices = None
        self.setup = RunSetup()
        self.buttons = RunButtons()
        self.figures = RunFigures()
        self.picture = EpisodePicture()
        self.loss_plot = MetaLossPlot()
        self.held_out_plot = HeldOutPlot()
        self._place()
        self._last: LiveStep | None = None
        self._total = 0
        self._precision = ""
        self._pending_picture: LiveThumbnails | None = None
        self._draw = Throttle(DRAW_INTERVAL_MS, self._redraw, self)
        self._bind()

    def _place(self) -> None:
        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.setup)
        column.addWidget(self.buttons)
        column.addWidget(self.figures)
        column.addWidget(self.picture, 1)
        grid = QGridLayout(self)
        grid.addWidget(side, 0, 0, 2, 1)
        grid.addWidget(self.held_out_plot, 0, 1)
        grid.addWidget(self.loss_plot, 1, 1)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 3)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)

    def _bind(self) -> None:
        t, b = self.trainer, self.buttons
        b.start.clicked.connect(self.start)
        b.pause.clicked.connect(t.pause)
        b.resume.clicked.connect(t.resume)
        b.stop.clicked.connect(lambda: t.stop())
        b.try_now.clicked.connect(self.try_now)
        t.stateChanged.connect(self._state)
        t.started.connect(self._started)
        t.stepped.connect(self._stepped)
        t.evaluated.connect(self._evaluated)
        t.thumbnails.connect(self._thumbnails)
        t.saved.connect(self._saved)
        t.done.connect(self._done)
        t.failed.connect(lambda text: self.figures.show_message(text, error=True))
        if self.calibrator is not None:
            self.calibrator.finished.connect(self._calibrated)
        self.setup.algorithm.currentTextChanged.connect(self._algorithm_chosen)
        self.setup.dataset.currentIndexChanged.connect(lambda _i: self._dataset_chosen())

    # ---------------------------------------------------------------- choices
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.fill()
        if self._pending_picture is not None:
            self._thumbnails(self._pending_picture)

    def fill(self) -> None:
        """Fill the choices from core's registries (once)."""
        if self.choices is not None:
            return
        self.choices = run_choices()
        s = self.setup
        for combo in (s.algorithm, s.dataset):
            combo.blockSignals(True)
        s.algorithm.addItems(list(self.choices.algorithms))
        for name, summary, _splits in self.choices.datasets:
            s.dataset.addItem(name, name)
            s.dataset.setItemData(s.dataset.count() - 1, summary, 3)  # tooltip role
        for combo in (s.algorithm, s.dataset):
            combo.blockSignals(False)
        s.set_checkpoints(shipped_checkpoints())
        s.algorithm.setCurrentText(preset_algorithm(DEFAULT_PRESET) or "protonet")
        self._algorithm_chosen(s.algorithm.currentText())
        self._dataset_chosen()

    def _algorithm_chosen(self, algorithm: str) -> None:
        """The recipes of this learner (the default one first for ProtoNet)."""
        if self.choices is None:
            return
        combo = self.setup.preset
        combo.clear()
        own = [p for p in self.choices.presets if preset_algorithm(p) == algorithm]
        own.sort(key=lambda p: p != DEFAULT_PRESET)
        for preset in own:
            combo.addItem(preset, preset)
        combo.addItem(NO_PRESET, "")

    def _dataset_chosen(self) -> None:
        name = self.setup.dataset.currentData()
        splits = next((sp for n, _s, sp in self.choices.datasets if n == name), ())
        self.setup.split.clear()
        for split in splits:
            self.setup.split.addItem(split, split)
        if not splits:
            self.setup.split.addItem("(its own)", None)

    def request(self) -> RunRequest:
        s = self.setup
        extra = list(self.extra)
        if s.minutes.value() > 0:
            extra += ["--max-minutes", f"{s.minutes.value():g}"]
        return RunRequest(
            s.algorithm.currentText(),
            s.dataset.currentData(),
            s.split.currentData(),
            s.chosen_preset(),
            s.chosen_init(),
            self.data_root,
            tuple(extra),
        )

    # ---------------------------------------------------------------- commands
    def start(self) -> Path | None:
        self.fill()
        if self.trainer.running:
            return None
        if self.setup.dataset.currentData() == "folder" and self.data_root is None:
            folder = QFileDialog.getExistingDirectory(self, "A folder of class sub-folders")
            if not folder:
                return None
            self.data_root = Path(folder)
        request = self.request()
        self.loss_plot.clear_data()
        paper = PAPER if request.dataset == "omniglot" else {}
        self.held_out_plot.set_settings(SETTINGS, paper, PAPER_NAME)
        self._last, self._total = None, 0
        self.figures.progress.setText("starting: loading the data and the learner…")
        self.figures.speed.setText("")
        self.figures.accuracy.setText("")
        self.figures.show_message("")
        return self.trainer.start(request)

    def try_now(self) -> None:
        self.figures.show_message("Saving the weights reached so far…")
        self.trainer.try_now()

    # ---------------------------------------------------------------- records
    def _state(self, state: RunState) -> None:
        self.buttons.show_state(state.value)
        self.setup.set_enabled(state is RunState.IDLE)
        if state is RunState.PAUSED:
            self.figures.show_message("Paused between two meta-steps (the clock is stopped).")
        elif state is RunState.RUNNING and self.figures.message.text().startswith("Paused"):
            self.figures.show_message("")

    def _started(self, started: LiveStarted) -> None:
        self._total = started.total
        note = f" ({started.resumed})" if started.resumed else ""
        self._precision = started.probe or (f"{started.amp} autocast" if started.amp else "fp32")
        self.figures.progress.setText(
            f"{started.algorithm}: measuring on the {started.held_out}…{note}"
        )
        self.figures.speed.setText(self._precision)

    def _stepped(self, step: LiveStep) -> None:
        self._last = step
        self.loss_plot.add(step.step, step.loss)
        self._draw.request()

    def _redraw(self) -> None:
        self.loss_plot.draw()
        step = self._last
        if step is None:
            return
        self.figures.progress.setText(
            f"step {step.step:,} / {self._total:,} · {_duration(step.elapsed)} of training"
        )
        left = "" if step.eta is None else f" · about {_duration(step.eta)} left"
        self.figures.speed.setText(
            f"{_rate(step.episodes_per_s)} episodes/s{left} · {self._precision}"
        )

    def _evaluated(self, record: LiveEval) -> None:
        self.held_out_plot.add(record.elapsed, record.results)
        cells = " · ".join(
            f"{r.ways}-way {r.shots}-shot {100 * r.accuracy:.1f} %" for r in record.results
        )
        self.figures.accuracy.setText(
            f"{cells} (after {_duration(record.elapsed)}; {record.episodes} fixed episodes each "
            f"on the {record.classes})"
        )

    def _thumbnails(self, record: LiveThumbnails) -> None:
        if not self.isVisible():  # drawn when the view is shown
            self._pending_picture = record
            return
        self._pending_picture = None
        self.picture.show_file(record.path, record.step)

    def _saved(self, saved: LiveSaved) -> None:
        if saved.why != "now":
            return
        self.load(saved.path)
        self.figures.show_message(
            f"Trying the weights of step {saved.step:,} ({_duration(saved.elapsed)} of training) "
            f"in the Teach tab: {saved.path.name}"
        )
        self.handedOver.emit(saved.path)

    def _done(self, done: LiveDone) -> None:
        self.add_checkpoint(done.path)
        self._draw.now()
        self._ended = (
            f"{done.why.capitalize()} at step {done.step:,} after {_duration(done.elapsed)} of "
            f"training: saved {done.path} (in the Checkpoint box from now on). Continue it with "
            f"“python -m core.train --resume --out {done.path.parent}”."
        )
        if self.calibrator is None:
            self._calibrated(done.path, "not asked for")
            return
        self.figures.show_message(
            f"{self._ended} Calibrating its “none of these” answer on its validation classes…"
        )
        self.calibrator.start(done.path, self.data_root)

    def _calibrated(self, path: Path, problem: str) -> None:
        if not problem:
            note = "Its “none of these” answer is calibrated (the Teach tab's None of these)."
        else:
            note = (
                f"No open-set calibration ({problem}): “python -m core.openset --checkpoint "
                f"{path}” makes one."
            )
        self.figures.show_message(f"{self._ended} {note}", error=bool(problem))
