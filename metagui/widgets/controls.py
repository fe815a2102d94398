"""The settings bar (checkpoint, device, adaptation steps and learning rate, sampled tasks) and
the message banner."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

OPEN_ITEM = "Open…"


def named(widget: QWidget, name: str, accessible: str, tip: str = "") -> QWidget:
    widget.setObjectName(name)
    widget.setAccessibleName(accessible)
    if tip:
        widget.setToolTip(tip)
    return widget


class SettingsBar(QFrame):
    """Checkpoint / device / steps / learning rate / "Sample an Omniglot task"."""

    checkpointChosen = Signal(object)  # Path, or None for "Open…"
    deviceChosen = Signal(str)
    hyperparametersChanged = Signal()
    sampleRequested = Signal()
    restoreRequested = Signal()

    def __init__(self, devices: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsBar")
        self.checkpoint = named(
            QComboBox(),
            "checkpointCombo",
            "Checkpoint",
            "Meta-trained model: the shipped checkpoints, or Open… any .pt file",
        )
        self.checkpoint.setMinimumWidth(230)
        self.device = named(QComboBox(), "deviceCombo", "Device", "Where the model runs")
        for name in devices:
            self.device.addItem(name.upper(), name)
        self.device.setCurrentIndex(self.device.findData("cpu"))
        self.steps = named(
            QSpinBox(),
            "stepsSpin",
            "Adaptation steps",
            "Gradient steps of the inner loop on the support set (0: none)",
        )
        self.steps.setRange(0, 200)
        self.steps.setValue(10)
        self.lr = named(
            QDoubleSpinBox(),
            "lrSpin",
            "Adaptation learning rate",
            "Learning rate of the inner-loop steps (too large makes adaptation diverge)",
        )
        self.lr.setDecimals(4)
        self.lr.setRange(0.0001, 1_000_000.0)
        self.lr.setSingleStep(0.01)
        self.lr.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.lr.setValue(0.01)
        self.ways = named(QSpinBox(), "waysSpin", "Ways of a sampled task", "Classes (N-way)")
        self.ways.setRange(2, 20)
        self.ways.setValue(5)
        self.shots = named(
            QSpinBox(), "shotsSpin", "Shots of a sampled task", "Examples per class (K-shot)"
        )
        self.shots.setRange(1, 10)
        self.shots.setValue(5)
        self.sample = named(
            QPushButton("Sample an Omniglot task"), "sampleTaskButton", "Sample an Omniglot task"
        )
        self.restore = named(
            QPushButton("↶ My classes"),
            "restoreClassesButton",
            "Restore my classes",
            "Bring back the classes you had before the sampled task",
        )
        self.restore.setEnabled(False)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        for label, widget in (
            ("Checkpoint", self.checkpoint),
            ("Device", self.device),
            ("Steps", self.steps),
            ("Learning rate", self.lr),
        ):
            text = QLabel(label)
            text.setBuddy(widget)
            layout.addWidget(text)
            layout.addWidget(widget)
            layout.addSpacing(8)
        layout.addStretch(1)
        layout.addWidget(self.ways)
        layout.addWidget(QLabel("-way"))
        layout.addWidget(self.shots)
        layout.addWidget(QLabel("-shot"))
        layout.addWidget(self.sample)
        layout.addWidget(self.restore)

        self.checkpoint.activated.connect(self._checkpoint_activated)
        self.device.activated.connect(lambda _i: self.deviceChosen.emit(self.device.currentData()))
        self.steps.valueChanged.connect(self.hyperparametersChanged)
        self.lr.valueChanged.connect(self.hyperparametersChanged)
        self.sample.clicked.connect(self.sampleRequested)
        self.restore.clicked.connect(self.restoreRequested)

    def set_checkpoints(self, paths: list[Path], current: Path | None) -> None:
        self.checkpoint.blockSignals(True)
        self.checkpoint.clear()
        if not paths:
            self.checkpoint.addItem("(no checkpoint found)", None)
        for path in paths:
            self.checkpoint.addItem(path.name, str(path))
            self.checkpoint.setItemData(
                self.checkpoint.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole
            )
        self.checkpoint.addItem(OPEN_ITEM, OPEN_ITEM)
        self.select_checkpoint(current)
        self.checkpoint.blockSignals(False)

    def add_checkpoint(self, path: Path) -> None:
        if self.checkpoint.findData(str(path)) < 0:
            self.checkpoint.insertItem(self.checkpoint.count() - 1, path.name, str(path))
            if self.checkpoint.findData(None) >= 0:
                self.checkpoint.removeItem(self.checkpoint.findData(None))

    def select_checkpoint(self, path: Path | None) -> None:
        index = self.checkpoint.findData(str(path)) if path is not None else 0
        self.checkpoint.blockSignals(True)
        self.checkpoint.setCurrentIndex(max(index, 0))
        self.checkpoint.blockSignals(False)

    def _checkpoint_activated(self, index: int) -> None:
        data = self.checkpoint.itemData(index)
        if data == OPEN_ITEM:
            self.checkpointChosen.emit(None)
        elif data:
            self.checkpointChosen.emit(Path(data))


class MessageBanner(QLabel):
    """A coloured, word-wrapped line above the canvases; click to dismiss."""

    STYLES: ClassVar[dict[str, str]] = {
        "error": "background: #fdecea; color: #8a1c1c; border: 1px solid #f5c2c0;",
        "hint": "background: #fff7e0; color: #6b4e00; border: 1px solid #f1dca0;",
        "info": "background: #e8f1fb; color: #163e6b; border: 1px solid #b9d3f0;",
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.setAccessibleName("Message")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.level = ""
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        self.setText(text)
        self.setStyleSheet(f"QLabel {{ {self.STYLES[level]} border-radius: 5px; padding: 6px; }}")
        self.show()

    def clear_message(self, level: str | None = None) -> None:
        if level is None or self.level == level:
            self.level = ""
            self.setText("")
            self.hide()

    def mousePressEvent(self, event) -> None:
        self.clear_message()
