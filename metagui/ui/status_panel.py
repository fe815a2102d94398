"""The status bar: a passing note, the progress of long work (decoding a dataset's test
classes), and the learner's state: checkpoint and split, device, the last adaptation."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QMainWindow, QProgressBar

from metagui.app.records import Loaded, Step
from metagui.app.tasks import Decoding
from metagui.control.learner import LearnerController
from metagui.ui.widgets.controls import named
from metagui.ui.widgets.messages import StatusText


class StatusPanel(QObject):
    def __init__(self, window: QMainWindow, learner: LearnerController) -> None:
        super().__init__(window)
        self.learner = learner
        self.message = StatusText()
        self.progress = named(QProgressBar(), "progressBar", "Progress of long work")
        longest = "decoding Omniglot background: 19,280 / 19,280 images"  # as decoding writes
        self.progress.setFixedWidth(self.progress.fontMetrics().horizontalAdvance(longest) + 40)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.device = QLabel()
        self.timing = named(QLabel("no adaptation yet"), "timingLabel", "Adaptation state")
        self.checkpoint = QLabel()
        bar = window.statusBar()
        bar.addWidget(self.message, 1)
        bar.addPermanentWidget(self.progress)
        for label in (self.checkpoint, self.device, self.timing):
            bar.addPermanentWidget(label)
        learner.loaded.connect(self.show_learner)
        learner.stepped.connect(self._stepped)
        learner.adapted.connect(self._adapted)
        self.show_learner(None)

    def show_learner(self, loaded: Loaded | None) -> None:
        ckpt = self.learner.checkpoint
        if ckpt is None:
            self.checkpoint.setText("no model")
        else:
            split = ckpt.metadata.get("split", "?")
            self.checkpoint.setText(f"{ckpt.learner.name} · {split} split")
        self.device.setText(f"Device: {str(self.learner.device).upper()}")

    def _stepped(self, step: Step) -> None:
        self.timing.setText(f"adapting: step {step.step}/{step.total_steps}")

    def _adapted(self, last: Step) -> None:
        self.timing.setText(
            f"adapted in {last.elapsed * 1000:.0f} ms ({last.total_steps} steps, "
            f"loss {last.loss:.3g})"
        )

    def busy(self, busy: bool) -> None:
        """A task is being sampled: an indeterminate bar until decoding reports progress."""
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.progress.setFormat("sampling a task…")

    def decoding(self, record: Decoding, text: str) -> None:
        """Progress of the first decoding: determinate once the child reports images."""
        if record.total:
            if self.progress.maximum() != record.total:
                self.progress.setRange(0, record.total)
            self.progress.setValue(record.done)
            self.progress.setFormat(
                f"decoding {record.dataset} {record.source}: {record.done:,} / {record.total:,} "
                "images"
            )
        else:  # starting the process, or reading the decoded cache
            self.progress.setFormat(f"reading {record.dataset}… {record.seconds:.0f} s")
        if self.message.text() != text:
            self.message.setText(text)
