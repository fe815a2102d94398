"""The settings bar (checkpoint, device, adaptation steps and learning rate, sampled tasks), and
the helpers that name widgets and actions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from metagui.ui.widgets.checkpoint_box import CheckpointBox

if TYPE_CHECKING:
    from core.algorithms.base import Learner

OPEN_ITEM = "Open…"
STEPS_TIP = "Gradient steps of the inner loop on the support set (0: none)"
LR_TIP = "Learning rate of the inner-loop steps (too large makes adaptation diverge)."


def action(window: QWidget, text: str, name: str, shortcut=None) -> QAction:
    """A named action with an optional shortcut, added to ``window`` so that its shortcut works
    whatever has the focus."""
    item = QAction(text, window)
    item.setObjectName(name)
    if shortcut is not None:
        item.setShortcut(QKeySequence(shortcut))
    window.addAction(item)
    return item


def named(widget: QWidget, name: str, accessible: str, tip: str = "") -> QWidget:
    widget.setObjectName(name)
    widget.setAccessibleName(accessible)
    if tip:
        widget.setToolTip(tip)
    return widget


#: the "from" box's first item: the test classes of the checkpoint's own dataset
OWN_DATA = "The checkpoint's own dataset"


class SettingsBar(QFrame):
    """Checkpoint / device / steps / learning rate / "Sample an Omniglot task"."""

    checkpointChosen = Signal(object)  # Path, or None for "Open…"
    deviceChosen = Signal(str)
    hyperparametersChanged = Signal()
    sampleRequested = Signal()
    sourceChosen = Signal(object)  # (dataset, split), or None: the checkpoint's own data
    restoreRequested = Signal()

    def __init__(self, devices: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsBar")
        self.checkpoint = named(
            CheckpointBox(),
            "checkpointCombo",
            "Checkpoint",
            "Meta-trained model: the shipped checkpoints, or Open… any .pt file",
        )
        self.device = named(QComboBox(), "deviceCombo", "Device", "Where the model runs")
        self.set_devices(devices)
        self.steps = named(
            QSpinBox(),
            "stepsSpin",
            "Adaptation steps",
            STEPS_TIP,
        )
        self.steps.setRange(0, 200)
        self.steps.setValue(10)
        self.lr = named(
            QDoubleSpinBox(),
            "lrSpin",
            "Adaptation learning rate",
            LR_TIP,
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
            QToolButton(), "sampleTaskButton", "Sample an Omniglot task"
        )  # its arrow opens the menu of where tasks come from
        self.sample.setText("Sample an Omniglot task")
        self.sample.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.sources = QActionGroup(self)
        self.sources.setExclusive(True)
        self.sample.setMenu(QMenu(self.sample))
        self.set_sources([])
        self.restore = named(
            QPushButton("↶ My classes"),
            "restoreClassesButton",
            "Restore my classes",
            "Bring back the classes you had before the sampled task",
        )
        self.restore.setEnabled(False)
        self.reset = named(
            QPushButton("as trained"),
            "resetAdaptButton",
            "Reset steps and learning rate",
            "Steps and learning rate are the checkpoint's meta-trained values",
        )
        self.reset.setFlat(True)
        self.reset.setEnabled(False)

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
        layout.addWidget(self.reset)
        layout.addStretch(1)
        layout.addWidget(self.ways)
        layout.addWidget(QLabel("-way"))
        layout.addWidget(self.shots)
        layout.addWidget(QLabel("-shot"))
        layout.addWidget(self.sample)
        layout.addWidget(self.restore)

        self.checkpoint.activated.connect(self._checkpoint_activated)
        self.device.activated.connect(lambda _i: self.deviceChosen.emit(self.device.currentData()))
        for spin in (self.steps, self.lr):
            spin.valueChanged.connect(self._show_override)
            spin.valueChanged.connect(self.hyperparametersChanged)
        self.sample.clicked.connect(self.sampleRequested)
        self.sources.triggered.connect(lambda action: self.sourceChosen.emit(action.data()))
        self.restore.clicked.connect(self.restoreRequested)
        self.reset.clicked.connect(self.reset_adaptation)
        self._defaults: tuple[int, float | None] = (0, None)

    def set_devices(self, devices: list[str]) -> None:
        """The devices offered (CPU until torch is loaded and has looked for GPUs)."""
        current = self.device.currentData() or "cpu"
        self.device.blockSignals(True)
        self.device.clear()
        for name in devices:
            self.device.addItem(name.upper(), name)
        self.device.setCurrentIndex(max(self.device.findData(current), 0))
        self.device.blockSignals(False)

    def show_learner(self, learner: Learner) -> None:
        """Start the boxes at ``learner``'s meta-trained ``adapt_defaults()``, enabled as far as
        its ``capabilities`` say they apply (decided from the declared capabilities)."""
        steps, lr = learner.adapt_defaults()
        caps = learner.capabilities
        no_steps = f"{learner.name} adapts without gradient steps: steps do not apply"
        if not caps.lr_override:
            lr_note = (
                f"{learner.name} adapts without gradient steps, so no learning rate applies (n/a)"
            )
        elif lr is None:
            lr_note = (
                f"As trained: {learner.name}'s learned rates (“learned”); a value here means "
                f"{caps.lr_override}"
            )
        else:
            lr_note = f"{LR_TIP} As trained: {lr:g}; a value here sets the {caps.lr_override}"
        self.set_defaults(steps, lr, caps.adapt_steps, bool(caps.lr_override), no_steps, lr_note)

    def set_defaults(
        self,
        steps: int,
        lr: float | None,
        steps_apply: bool,
        lr_applies: bool,
        steps_note: str,
        lr_note: str,
    ) -> None:
        """Start the boxes at a checkpoint's meta-trained ``(steps, lr)``. A box that does not
        apply is disabled with its note as tooltip; the lr box reads "n/a" when no learning
        rate applies and "learned" when ``lr`` is None but one does (Meta-SGD's per-weight
        rates)."""
        lr = lr if lr_applies else None
        self._defaults = (steps, lr)
        self.lr.setMinimum(0.0 if lr is None else 0.0001)
        self.lr.setSpecialValueText("" if lr is not None else "learned" if lr_applies else "n/a")
        self.reset_adaptation()
        self.steps.setEnabled(steps_apply)
        self.steps.setToolTip(STEPS_TIP if steps_apply else steps_note)
        self.lr.setEnabled(steps_apply and lr_applies)
        self.lr.setToolTip(lr_note)
        if not steps_apply:
            self.reset.setText("no steps apply")
            self.reset.setToolTip(steps_note)

    def set_sources(self, sources: list[tuple[str, tuple[str, str | None]]]) -> None:
        """The datasets tasks can come from besides the checkpoint's own (the sample button's
        menu): ``(label, (name, split))``; the choice is kept when it is still offered."""
        kept = self.source_choice() if self.sources.actions() else None
        menu = self.sample.menu()
        for action in self.sources.actions():
            self.sources.removeAction(action)
        menu.clear()
        for label, data in [(OWN_DATA, None), *sources]:
            action = menu.addAction(label)
            action.setData(data)
            action.setCheckable(True)
            action.setChecked(data == kept)
            self.sources.addAction(action)
        if self.sources.checkedAction() is None:
            self.sources.actions()[0].setChecked(True)

    def source_choice(self) -> tuple[str, str | None] | None:
        """Where sampled tasks come from: ``(dataset, split)``, or None for the checkpoint's own."""
        checked = self.sources.checkedAction()
        return None if checked is None else checked.data()

    def reset_adaptation(self) -> None:
        """Back to the meta-trained values."""
        steps, lr = self._defaults
        for spin in (self.steps, self.lr):
            spin.blockSignals(True)
        self.steps.setValue(steps)
        self.lr.setValue(0.0 if lr is None else lr)
        for spin in (self.steps, self.lr):
            spin.blockSignals(False)
        self._show_override()
        self.hyperparametersChanged.emit()

    def set_overrides(self, steps: int | None, lr: float | None) -> None:
        """Put ``(steps, lr)`` in the boxes (None: the meta-trained value) without signals."""
        default_steps, default_lr = self._defaults
        for spin in (self.steps, self.lr):
            spin.blockSignals(True)
        self.steps.setValue(default_steps if steps is None else steps)
        chosen = default_lr if lr is None else lr
        self.lr.setValue(self.lr.minimum() if chosen is None else chosen)
        for spin in (self.steps, self.lr):
            spin.blockSignals(False)
        self._show_override()

    def overrides(self) -> tuple[int | None, float | None]:
        """``(steps, lr)`` the user set, None where a box holds the meta-trained value."""
        steps, lr = self._defaults
        chosen_lr = None if self.lr.value() == self.lr.minimum() and lr is None else self.lr.value()
        return (
            None if self.steps.value() == steps else self.steps.value(),
            None
            if chosen_lr == lr or (lr is not None and abs(chosen_lr - lr) < 1e-9)
            else chosen_lr,
        )

    def _show_override(self) -> None:
        overridden = self.overrides() != (None, None)
        self.reset.setEnabled(overridden)
        self.reset.setText("↺ reset (overridden)" if overridden else "as trained")
        self.reset.setToolTip(
            "Back to the checkpoint's meta-trained steps and learning rate"
            if overridden
            else "Steps and learning rate are the checkpoint's meta-trained values"
        )
        for spin in (self.steps, self.lr):
            font = spin.font()
            font.setBold(overridden)
            spin.setFont(font)

    def set_checkpoints(self, paths: list[Path], current: Path | None) -> None:
        self.checkpoint.blockSignals(True)
        self.checkpoint.clear()
        if not paths:
            self.checkpoint.addItem("(no checkpoint found)", None)
        for path in paths:
            self.checkpoint.add_path(path)
        self.checkpoint.addItem(OPEN_ITEM, OPEN_ITEM)
        self.select_checkpoint(current)
        self.checkpoint.blockSignals(False)

    def add_checkpoint(self, path: Path) -> None:
        if self.checkpoint.findData(str(path)) < 0:
            self.checkpoint.add_path(path, self.checkpoint.count() - 1)
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
