"""The widgets of the "Learn to learn" view that are not plots: what to train (learner, dataset,
split, preset, starting weights, time limit), the run buttons, the live figures and the picture
of the episode being trained on."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from metagui.ui.widgets.controls import named

NO_PRESET = "(none: core.train's defaults)"
RANDOM_WEIGHTS = "random weights (from scratch)"


def _combo(name: str, accessible: str, tip: str) -> QComboBox:
    return named(QComboBox(), name, accessible, tip)


class RunSetup(QGroupBox):
    """Learner, dataset, split, preset, start from, time limit."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("What to meta-train", parent)
        self.algorithm = _combo("learnAlgorithm", "Learner", "Any registered learner")
        self.dataset = _combo("learnDataset", "Dataset", "Any dataset core knows, or a folder")
        self.split = _combo("learnSplit", "Class split", "Which classes train, which are held out")
        self.preset = _combo("learnPreset", "Recipe", "A named core.train recipe (its flags)")
        self.init = _combo(
            "learnInit", "Start from", "Random weights, or a shipped checkpoint to fine-tune"
        )
        self.minutes = named(
            QDoubleSpinBox(),
            "learnMinutes",
            "Time limit in minutes",
            "Stop (and save) after this many minutes of training; 0: no limit",
        )
        self.minutes.setRange(0, 600)
        self.minutes.setDecimals(1)
        self.minutes.setSingleStep(0.5)
        self.minutes.setValue(5)
        self.minutes.setSuffix(" min")
        form = QFormLayout(self)
        for label, widget in (
            ("Learner", self.algorithm),
            ("Dataset", self.dataset),
            ("Split", self.split),
            ("Recipe", self.preset),
            ("Start from", self.init),
            ("Time limit", self.minutes),
        ):
            form.addRow(label, widget)

    def set_checkpoints(self, paths: list[Path]) -> None:
        self.init.clear()
        self.init.addItem(RANDOM_WEIGHTS, None)
        for path in paths:
            self.init.addItem(f"{path.name} (fine-tune)", str(path))

    def chosen_init(self) -> Path | None:
        data = self.init.currentData()
        return Path(data) if data else None

    def chosen_preset(self) -> str:
        data = self.preset.currentData()
        return data or ""

    def set_enabled(self, enabled: bool) -> None:
        for w in (self.algorithm, self.dataset, self.split, self.preset, self.init, self.minutes):
            w.setEnabled(enabled)


class RunButtons(QWidget):
    """Start / Pause / Resume / Stop / Try it now."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.start = named(QPushButton("Start"), "learnStartButton", "Start meta-training")
        self.pause = named(
            QPushButton("Pause"),
            "learnPauseButton",
            "Pause meta-training",
            "Pause between two meta-steps (the training clock stops)",
        )
        self.resume = named(QPushButton("Resume"), "learnResumeButton", "Resume meta-training")
        self.stop = named(
            QPushButton("Stop"),
            "learnStopButton",
            "Stop and save",
            "Finish the current step, save the model and list it in Checkpoint",
        )
        self.try_now = named(
            QPushButton("Try it now"),
            "learnTryNowButton",
            "Try the current weights",
            "Save the weights reached so far and make them the learner of the "
            "Teach tab: draw a few characters and see how well it adapts",
        )
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for button in (self.start, self.pause, self.resume, self.stop, self.try_now):
            row.addWidget(button)
        self.show_state("idle")

    def show_state(self, state: str) -> None:
        """Which buttons apply: idle, starting, running, paused, stopping."""
        self.start.setEnabled(state == "idle")
        self.pause.setEnabled(state == "running")
        self.resume.setEnabled(state == "paused")
        self.stop.setEnabled(state in ("starting", "running", "paused"))
        self.try_now.setEnabled(state in ("running", "paused"))


class RunFigures(QWidget):
    """Step, training time, episodes per second, ETA, the latest held-out accuracies, notes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.progress = named(QLabel("not started"), "learnProgress", "Meta-training progress")
        self.speed = named(QLabel(""), "learnSpeed", "Episodes per second and time left")
        self.accuracy = named(QLabel(""), "learnAccuracy", "Latest held-out accuracy")
        self.message = named(QLabel(""), "learnMessage", "Meta-training message")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        for label in (self.progress, self.speed, self.accuracy, self.message):
            column.addWidget(label)

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #b00020;" if error else "")
        self.message.setText(text)


class EpisodePicture(QGroupBox):
    """The episode the outer loop just trained on: support on top, queries below."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("A task the outer loop is training on", parent)
        self.image = named(
            QLabel("(appears when training starts)"),
            "learnEpisodeImage",
            "Support and query images of the current training episode",
        )
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumHeight(140)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.caption = QLabel("top: one example (support) per class · below: queries to classify")
        self.caption.setStyleSheet("color: #555555;")
        column = QVBoxLayout(self)
        column.addWidget(self.image, 1)
        column.addWidget(self.caption)
        self._pixmap = QPixmap()
        self.step = -1

    def show_file(self, path: Path, step: int) -> bool:
        pixmap = QPixmap(str(path))
        if pixmap.isNull():  # being replaced: the next one comes within a second
            return False
        self._pixmap, self.step = pixmap, step
        self._fit()
        self.changed.emit()
        return True

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._pixmap.isNull():
            return
        size = self.image.size()
        scaled = self._pixmap.scaled(
            size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
        )
        self.image.setPixmap(scaled)
