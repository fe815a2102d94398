"""The query panel (box 3): the query canvas, its buttons, the "None of these" switch and the
prediction line, bound to the ``Teaching`` controller (the query) and the main learner (its
open-set calibration). The prediction it shows comes from the results panel (``show``)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings, QSignalBlocker, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from metagui.app.openset import SETTING, TIP_ON
from metagui.app.records import Prediction
from metagui.control.background import Background, FilesRead
from metagui.control.teaching import Teaching
from metagui.control.throttle import Debounce
from metagui.ui.teach_panel import IMAGE_FILTER
from metagui.ui.widgets.canvas import DrawingCanvas
from metagui.ui.widgets.controls import named
from metagui.ui.widgets.images import class_colour, example_qimage

#: Live prediction while the pen moves: after a 120 ms pause, and at least every 250 ms.
LIVE_DELAY_MS, LIVE_MAX_WAIT_MS = 120, 250
#: Colour of the "none of these" answer (no class's colour).
NONE_COLOUR = "#555555"
#: Longest class name shown whole in the prediction line (then elided: the tooltip has it).
NAME_ROOM = 26


def _short(name: str) -> str:
    return name if len(name) <= NAME_ROOM else name[: NAME_ROOM - 1] + "…"


class QueryPanel(QGroupBox):
    def __init__(self, teaching: Teaching, background: Background, qsettings: QSettings,
                 parent=None) -> None:  # fmt: skip
        super().__init__("3 · Query", parent)
        self.teaching, self.background, self.qsettings = teaching, background, qsettings
        self.canvas = named(
            DrawingCanvas("Draw a character\nto classify"), "queryCanvas", "Query canvas"
        )
        self.undo = named(QPushButton("↶ Undo"), "queryUndoButton", "Undo last query stroke")
        self.clear = named(QPushButton("Clear"), "queryClearButton", "Clear the query")
        self.open = named(
            QPushButton("Open images…"),
            "queryOpenButton",
            "Open query images",
            "Classify image files (or drop them on the query canvas)",
        )
        self.classify = named(
            QPushButton("Classify"),
            "classifyButton",
            "Classify the query",
            "Classify now (Ctrl+Enter); predictions also update by themselves while you draw",
        )
        self.openset_check = named(
            QCheckBox("None of these"),
            "openSetCheck",
            "Answer none of these when the query is far from every class",
        )
        self.prediction = named(QLabel(), "predictionLabel", "Prediction")
        self.prediction.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prediction.setWordWrap(False)  # one line: a long name is elided, never wrapped
        self.prediction.setTextFormat(Qt.TextFormat.RichText)
        self.prediction.setFixedHeight(64)  # a longer verdict never moves the canvases
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.prediction.setFont(font)
        layout = QVBoxLayout(self)
        layout.addWidget(self.canvas, 1)
        row = QHBoxLayout()
        for widget in (self.undo, self.clear, self.open, self.classify):
            row.addWidget(widget)
        row.addWidget(self.openset_check)
        # the switch cannot shrink below its text (it was clipped to "None of thes" at 1280 px)
        self.openset_check.setMinimumWidth(self.openset_check.sizeHint().width())
        layout.addLayout(row)
        layout.addWidget(self.prediction)
        self._live = Debounce(LIVE_DELAY_MS, LIVE_MAX_WAIT_MS, teaching.predict, self)
        self._wire()

    def _wire(self) -> None:
        t, c = self.teaching, self.canvas
        t.query_drawing = c.drawing
        c.strokeMoved.connect(self._drawn_live)
        c.strokeFinished.connect(self._pen_up)
        c.edited.connect(self._edited)
        c.filesDropped.connect(self.read_files)
        self.undo.clicked.connect(c.undo)
        self.clear.clicked.connect(self.clear_query)
        self.open.clicked.connect(self._open_files)
        self.classify.clicked.connect(self.request)
        t.showQueryDrawing.connect(self._show_drawing)
        t.showQueryImages.connect(lambda images: self._show_image(images[0]))
        self.background.filesRead.connect(self._files_read)
        box = self.openset_check
        box.setChecked(bool(self.qsettings.value(SETTING, False, type=bool)))
        t.learner.reject_unknown = t.second.reject_unknown = box.isChecked()
        box.toggled.connect(self._openset_toggled)
        t.learner.loaded.connect(lambda _loaded: self.openset_available())
        self.openset_available()

    def request(self):
        """Classify now (the debounced live request is dropped)."""
        self._live.cancel()
        return self.teaching.predict()

    # ---------------------------------------------------------------- the canvas
    def _drawn_live(self) -> None:
        self.teaching.query_drawn(live=True)
        self._live.request()

    def _pen_up(self) -> None:
        self.teaching.query_drawn(live=False)
        self.request()

    def _edited(self) -> None:
        """Undo or clear on the query canvas."""
        self.teaching.query_drawn(live=False)
        self.request()

    def clear_query(self) -> None:
        self.teaching.set_query_drawing(None)

    def _show_drawing(self, drawing) -> None:
        with QSignalBlocker(self.canvas):  # the teaching controller asks for the prediction
            if drawing is None:
                self.canvas.clear()
            else:
                self.canvas.set_drawing(drawing)
        self.canvas.update()

    def _show_image(self, example) -> None:
        self.canvas.set_image(example_qimage(example))

    def read_files(self, paths: list):
        return self.background.read(paths, self.teaching.learner.spec, None)

    def _open_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Images to classify", "", IMAGE_FILTER)
        if names:
            self.read_files(names)

    def _files_read(self, read: FilesRead) -> None:
        if read.target is not None:
            return  # a class's: the teach panel takes them
        good = [r.example for r in read.results if r.example is not None]
        bad = [r.error for r in read.results if r.example is None]
        if bad:
            lines = "; ".join(bad[:4]) + ("; …" if len(bad) > 4 else "")
            skipped = f"{len(bad)} file(s) skipped" + (" (nothing added)" if not good else "")
            self.teaching.message.emit(f"{skipped}: {lines}", "error", "files")
        if good:
            self.teaching.set_query_images(good)

    # ---------------------------------------------------------------- none of these
    def openset_available(self) -> None:
        state = self.teaching.learner.openset
        box = self.openset_check
        box.setEnabled(state.calibration is not None)
        if state.calibration is None:
            box.setToolTip(state.reason or "Load a checkpoint first")
        else:
            c = state.calibration
            box.setToolTip(TIP_ON.format(rate=c.true_accept_rate, score=c.score))

    def _openset_toggled(self, on: bool) -> None:
        self.qsettings.setValue(SETTING, on)
        self.teaching.learner.set_reject_unknown(on)
        self.teaching.second.set_reject_unknown(on)  # compare mode's, with its own calibration
        self.request()

    # ---------------------------------------------------------------- the prediction line
    def show_prediction(self, shown: Prediction | None, names: tuple[str, ...]) -> None:
        """The verdict of ``shown`` (None: nothing to say) for the classes ``names``."""
        text, style, tip = "", "", ""
        if shown is not None:
            text, style, tip = self._verdict(shown.probs, names, shown.rejected)
        # unchanged text or style sheet is not set again: a style sheet change costs a restyle
        if self.prediction.text() != text:
            self.prediction.setText(text)
            self.prediction.setToolTip(tip)
        if self.prediction.styleSheet() != style:
            self.prediction.setStyleSheet(style)

    def _verdict(self, probs: np.ndarray, names, rejected) -> tuple[str, str, str]:
        winner = int(np.argmax(probs[0]))
        refused = rejected is not None and bool(rejected[0])
        if refused:
            text = f"→ none of these  (closest: {_short(names[winner])})"
            style = f"color: {NONE_COLOUR};"
        else:
            text = f"→ {_short(names[winner])}  ({probs[0, winner]:.0%})"
            style = f"color: {class_colour(winner).name()};"
        tip = names[winner]
        truth = self.teaching.truth
        if truth is not None and truth < len(names):
            right = winner == truth and not refused
            text += "  ✓ correct" if right else f"  ✗ wrong: it is {_short(names[truth])}"
            tip += "" if right else f"; it is {names[truth]}"
            style = "color: #1e8449;" if right else "color: #c0392b;"
        if len(probs) > 1:
            others = ", ".join(
                "none" if rejected is not None and rejected[i] else names[int(probs[i].argmax())]
                for i in range(1, min(len(probs), 6))
            )
            text += f"<br><small>other images: {_short(others)}</small>"
        return text, style, tip
