"""Compare mode: two learners' predictions and timings for the same task, side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from metagui.ui.widgets.bars import ProbabilityPlot
from metagui.ui.widgets.controls import named
from metagui.ui.widgets.images import class_colour

NO_SECOND = "choose a second learner…"
#: ``LearnerColumn.winner`` when the answer is "none of these" (open-set answers on).
NONE_OF_THESE = -1


class LearnerColumn(QWidget):
    """One learner: its name, probability bars, and what it predicted in how long."""

    def __init__(self, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = named(QLabel(), f"compareTitle{key}", f"Learner {key}")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setStyleSheet("font-weight: bold;")
        self.title.setWordWrap(True)
        self.bars = named(
            ProbabilityPlot(legend=False),  # narrow: the main tab and the tooltip explain "↻"
            f"compareBars{key}",
            f"Probabilities of learner {key}",
        )
        self.bars.setMinimumHeight(80)
        self.result = named(QLabel(), f"compareResult{key}", f"Prediction of learner {key}")
        self.result.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.result.setWordWrap(True)
        self.winner: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.bars, 1)
        layout.addWidget(self.result)

    def show_result(
        self,
        probs: np.ndarray | None,
        names,
        elapsed: float,
        adapted: bool,
        steps: int,
        rejected: np.ndarray | None = None,
    ) -> None:
        """``probs`` ``(n_query, n_way)`` or None; ``adapted``: the time includes adapting;
        ``rejected`` ``(n_query,)``: "none of these" (winner ``NONE_OF_THESE``)."""
        self.bars.show_probs(None if probs is None else probs[0], names)
        timing = (
            f"adapted in {elapsed * 1000:.0f} ms ({steps} steps)"
            if adapted
            else f"classified in {elapsed * 1000:.0f} ms"
        )
        if probs is None or probs.shape[1] != len(names):
            self.winner = None
            self.result.setText(f"no query yet · {timing}")
            self.result.setStyleSheet("")
            return
        self.winner = int(np.argmax(probs[0]))
        if rejected is not None and rejected[0]:
            closest, self.winner = names[self.winner], NONE_OF_THESE
            self.result.setText(f"→ none of these (closest: {closest}) · {timing}")
            self.result.setStyleSheet("color: #555555;")
            return
        self.result.setText(f"→ {names[self.winner]} ({probs[0, self.winner]:.0%}) · {timing}")
        self.result.setStyleSheet(f"color: {class_colour(self.winner).name()};")

    def show_text(self, text: str, error: bool = False) -> None:
        self.winner = None
        self.bars.show_probs(None, ())
        self.result.setText(text)
        self.result.setStyleSheet("color: #c0392b;" if error else "")


class ComparePanel(QWidget):
    """The second learner's checkpoint choice, both columns and whether they agree."""

    checkpointChosen = Signal(object)  # Path, or None for "off"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("comparePanel")
        self.choice = named(
            QComboBox(),
            "compareCombo",
            "Second learner to compare",
            "Run a second checkpoint on the same classes and query at the same time",
        )
        self.choice.addItem(NO_SECOND, None)
        self.choice.currentIndexChanged.connect(lambda _i: self.checkpointChosen.emit(self.path()))
        self.verdict = named(QLabel(), "compareVerdict", "Do the learners agree")
        self.verdict.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.a, self.b = LearnerColumn("A"), LearnerColumn("B")
        top = QHBoxLayout()
        top.addWidget(QLabel("Compare with"))
        top.addWidget(self.choice, 1)
        columns = QHBoxLayout()
        columns.addWidget(self.a)
        columns.addWidget(self.b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(columns, 1)
        layout.addWidget(self.verdict)
        self.b.title.setText("second learner: none")
        self.b.show_text("Choose a checkpoint above to compare two learners on your task.")

    def hasHeightForWidth(self) -> bool:
        """No: the wrapped labels would make the window's bottom row claim the canvases'
        height whenever this tab is shown; the columns fit the height they are given."""
        return False

    def path(self) -> Path | None:
        """The chosen second checkpoint, or None."""
        data = self.choice.currentData()
        return Path(data) if data else None

    def index_of(self, path: Path) -> int:
        return self.choice.findData(str(path))

    def set_checkpoints(self, paths: list[Path]) -> None:
        current = self.path()
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItem(NO_SECOND, None)
        self.choice.blockSignals(False)
        for path in paths:
            self.add_checkpoint(path)
        self.select(current)

    def add_checkpoint(self, path: Path) -> None:
        if self.index_of(path) < 0:
            self.choice.blockSignals(True)
            self.choice.addItem(path.name, str(path))
            self.choice.setItemData(self.choice.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)
            self.choice.blockSignals(False)

    def select(self, path: Path | None) -> None:
        """Show ``path`` (None: no second learner) as chosen, without emitting a choice."""
        self.choice.blockSignals(True)
        self.choice.setCurrentIndex(max(self.index_of(path) if path else 0, 0))
        self.choice.blockSignals(False)

    def update_verdict(self) -> None:
        a, b = self.a.winner, self.b.winner
        names = self.a.bars.names
        if a is None or b is None or self.a.bars.names != self.b.bars.names:
            self.verdict.setText("")
        else:

            def said(i: int) -> str:
                return "none of these" if i == NONE_OF_THESE else names[i]

            if a == b:
                self.verdict.setText(f"Both predict {said(a)}.")
            else:
                self.verdict.setText(f"They disagree: A says {said(a)}, B says {said(b)}.")
