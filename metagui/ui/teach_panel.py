"""The teach panel: the class list (box 1) and the canvas examples are drawn on (box 2), bound
to the ``Teaching`` controller (the classes) and the background files worker (dropped images)."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from metagui.control.background import Background, FilesRead
from metagui.control.teaching import Teaching
from metagui.ui.widgets.canvas import DrawingCanvas
from metagui.ui.widgets.class_panel import ClassPanel
from metagui.ui.widgets.controls import named
from metagui.ui.widgets.images import class_colour

IMAGE_FILTER = (
    "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"
)


class TeachPanel(QWidget):
    """``classes_box`` and ``draw_box`` are placed by the window (they sit in two columns)."""

    def __init__(self, teaching: Teaching, background: Background, parent=None) -> None:
        super().__init__(parent)
        self.teaching, self.background = teaching, background
        self.panel = ClassPanel()
        self.classes_box = QGroupBox("1 · Classes (click a row to choose where drawings go)")
        QVBoxLayout(self.classes_box).addWidget(self.panel)
        self.canvas = named(
            DrawingCanvas("Draw an example,\nthen press “Add to class”"),
            "teachCanvas",
            "Drawing canvas for class examples",
        )
        self.pen_width = named(
            QSlider(Qt.Orientation.Horizontal), "penWidthSlider", "Pen width", "Pen width"
        )
        self.pen_width.setRange(1, 10)
        self.pen_width.setValue(round(DrawingCanvas.DEFAULT_WIDTH * 105))
        self.undo_button = named(
            QPushButton("↶ Undo"), "undoStrokeButton", "Undo last stroke", "Undo (Ctrl+Z)"
        )
        self.clear_button = named(
            QPushButton("Clear"), "clearCanvasButton", "Clear the canvas", "Clear (Ctrl+Del)"
        )
        self.add_button = named(
            QPushButton("Add to class"),
            "addToClassButton",
            "Add the drawing to the selected class",
            "Add the drawing to the selected class (Enter; Ctrl+Tab selects the next class)",
        )
        self.add_button.setMinimumHeight(34)
        self.draw_box = QGroupBox("2 · Draw examples")
        teach = QVBoxLayout(self.draw_box)
        teach.addWidget(self.canvas, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Pen"))
        row.addWidget(self.pen_width)
        row.addWidget(self.undo_button)
        row.addWidget(self.clear_button)
        teach.addLayout(row)
        teach.addWidget(self.add_button)
        self._wire()
        self.panel.rebuild(teaching.session)
        self._update_add_button()

    def _wire(self) -> None:
        p, t = self.panel, self.teaching
        p.addClassRequested.connect(t.add_class)
        p.removeClassRequested.connect(t.remove_class)
        p.renamed.connect(t.rename_class)
        p.addDrawingRequested.connect(self.add_drawing)
        p.openFilesRequested.connect(self._open_files)
        p.filesDropped.connect(self.add_files)
        p.removeExampleRequested.connect(t.remove_example)
        p.editExampleRequested.connect(self._edit_example)
        p.selectionChanged.connect(lambda _i: self._update_add_button())
        self.canvas.filesDropped.connect(lambda paths: self.add_files(p.selected, paths))
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.add_button.clicked.connect(lambda: self.add_drawing(p.selected))
        t.classesChanged.connect(self._classes_changed)
        t.classChanged.connect(self._class_changed)
        self.background.filesRead.connect(self._files_read)

    def add_drawing(self, index: int) -> None:
        if self.teaching.add_drawing(index, self.canvas.drawing()):
            with QSignalBlocker(self.canvas):
                self.canvas.clear()
            self.canvas.update()

    def add_files(self, index: int, paths: list):
        """Decode image files off the GUI thread, then add the good ones to class ``index``."""
        classes = self.teaching.session.classes
        if not paths or not 0 <= index < len(classes):
            return None
        self.teaching.status.emit(f"Reading {len(paths)} file(s)…")
        return self.background.read(paths, self.teaching.learner.spec, classes[index])

    def _open_files(self, index: int) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Add images to the class", "", IMAGE_FILTER)
        if names:
            self.add_files(index, names)

    def _files_read(self, read: FilesRead) -> None:
        if read.target is None:
            return  # the query's: the query panel takes them
        self.teaching.message.emit("", "clear", "files")
        good = [r.example for r in read.results if r.example is not None]
        bad = [r.error for r in read.results if r.example is None]
        if bad:
            lines = "; ".join(bad[:4]) + ("; …" if len(bad) > 4 else "")
            skipped = f"{len(bad)} file(s) skipped" + (" (nothing added)" if not good else "")
            self.teaching.message.emit(f"{skipped}: {lines}", "error", "files")
        self.teaching.add_examples(read.target, good)

    def _edit_example(self, class_index: int, example_index: int) -> None:
        example = self.teaching.session.classes[class_index].examples[example_index]
        if example.drawing is None:
            self.teaching.message.emit(
                "Only drawn examples can be edited; this one is an image.", "hint", "edit"
            )
            return
        self.canvas.set_drawing(example.drawing)
        self.teaching.status.emit("Drawing copied to the canvas: edit it and add it again.")

    def _classes_changed(self, select) -> None:
        self.panel.rebuild(self.teaching.session)
        if select is not None:
            self.panel.select(select)
        self._update_add_button()

    def _class_changed(self, index: int) -> None:
        if 0 <= index < len(self.panel.rows):
            self.panel.refresh(self.teaching.session, index)
        self._update_add_button()

    def next_class(self) -> None:
        self.panel.select((self.panel.selected + 1) % len(self.teaching.session.classes))
        self._update_add_button()

    def _update_add_button(self) -> None:
        index, classes = self.panel.selected, self.teaching.session.classes
        if 0 <= index < len(classes):
            colour = class_colour(index).name()
            name = classes[index].name
            shown = self.add_button.fontMetrics().elidedText(
                name, Qt.TextElideMode.ElideRight, 220
            )
            self.add_button.setText(f"Add to class “{shown}”  ⏎")
            self.add_button.setToolTip(f"Add the drawing to “{name}” (Enter)")
            self.add_button.setStyleSheet(
                f"QPushButton {{ border: 2px solid {colour}; border-radius: 5px; "
                "font-weight: bold; padding: 4px; }"
            )
