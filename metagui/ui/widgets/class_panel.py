"""The list of classes: editable names, example thumbnails, per-class actions, file drops.

The panel shows a ``Session`` and reports what the user asks for with signals; the main window
changes the session and tells the panel to refresh. Object names are stable per position:
``className0``, ``addDrawing0``, ``openFiles0``, ``removeClass0``, ``examples0``, ...
"""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from metagui.app.records import ROTATION_NOTE
from metagui.app.session import Session, TaskClass
from metagui.ui.widgets.canvas import FileDropTarget
from metagui.ui.widgets.images import class_colour, thumbnail

THUMB = 48
NAME_TIP = "Class name: click to edit"


class ExampleList(QListWidget):
    """Thumbnails of one class's examples; Delete or the context menu removes one."""

    removeRequested = Signal(int)
    editRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 6, THUMB + 6))
        self.setSpacing(0)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(THUMB + 12)
        self.setAcceptDrops(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        remove = QAction("Remove example", self)
        remove.setShortcut(QKeySequence.StandardKey.Delete)
        remove.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        remove.triggered.connect(self._remove_current)
        self.addAction(remove)
        edit = QAction("Edit drawing on the canvas", self)
        edit.triggered.connect(self._edit_current)
        self.addAction(edit)
        self.itemDoubleClicked.connect(lambda item: self.editRequested.emit(self.row(item)))

    def _remove_current(self) -> None:
        if self.currentRow() >= 0:
            self.removeRequested.emit(self.currentRow())

    def _edit_current(self) -> None:
        if self.currentRow() >= 0:
            self.editRequested.emit(self.currentRow())

    def show_class(self, task_class: TaskClass) -> None:
        self.clear()
        for i, example in enumerate(task_class.examples):
            item = QListWidgetItem(QIcon(thumbnail(example, THUMB)), "")
            kind = "drawing" if example.drawing is not None else example.source
            item.setToolTip(f"Example {i + 1}: {kind}\nDelete or right-click to remove")
            self.addItem(item)
        rows = max(1, -(-len(task_class.examples) // max(1, self._per_row())))
        self.setFixedHeight(min(rows, 3) * (THUMB + 6) + 6)

    def _per_row(self) -> int:
        return max(1, (self.viewport().width() or 300) // (THUMB + 6))


class ClassRow(FileDropTarget, QFrame):
    """One class: colour, name (editable in place), example count, actions, thumbnails."""

    pressed = Signal()
    filesDropped = Signal(list)  # list[Path]

    def __init__(self, index: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.setObjectName(f"classRow{index}")
        self.setAccessibleName(f"Class {index + 1}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAcceptDrops(True)
        self.swatch = QLabel()
        self.swatch.setFixedSize(14, 14)
        self.swatch.setStyleSheet(
            f"background: {class_colour(index).name()}; border-radius: 7px; border: none;"
        )
        self.name = QLineEdit()
        self.name.setObjectName(f"className{index}")
        self.name.setAccessibleName(f"Name of class {index + 1}")
        self.name.setToolTip(NAME_TIP)
        self.count = QLabel()
        self.count.setMinimumWidth(34)
        self.add_drawing = QPushButton("✚ Drawing")
        self.add_drawing.setObjectName(f"addDrawing{index}")
        self.add_drawing.setAccessibleName(f"Add the drawing to class {index + 1}")
        self.add_drawing.setToolTip("Add the drawing on the left canvas to this class")
        self.open_files = QToolButton()
        self.open_files.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.open_files.setObjectName(f"openFiles{index}")
        self.open_files.setAccessibleName(f"Open image files for class {index + 1}")
        self.open_files.setToolTip("Add image files to this class (or drop files on the row)")
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setObjectName(f"removeClass{index}")
        self.remove.setAccessibleName(f"Remove class {index + 1}")
        self.remove.setToolTip("Remove this class and its examples")
        self.examples = ExampleList()
        self.examples.setObjectName(f"examples{index}")
        self.examples.setAccessibleName(f"Examples of class {index + 1}")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.swatch)
        top.addWidget(self.name, 1)
        top.addWidget(self.count)
        top.addWidget(self.add_drawing)
        top.addWidget(self.open_files)
        top.addWidget(self.remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(3)
        layout.addLayout(top)
        layout.addWidget(self.examples)

    def show_class(self, task_class: TaskClass) -> None:
        if self.name.text() != task_class.name and not self.name.hasFocus():
            self.name.setText(task_class.name)
            self.name.setCursorPosition(0)  # a long name shows its start, not its end
        rotated = "↻" in task_class.name
        # the field may be too narrow for a long name (it shows its start): the tooltip always
        # holds all of it
        tip = f"{task_class.name}\n{NAME_TIP}"
        self.name.setToolTip(f"{tip}\n{ROTATION_NOTE}" if rotated else tip)
        n = len(task_class.examples)
        self.count.setText("empty" if n == 0 else f"×{n}")
        self.count.setToolTip(f"{n} example{'s' if n != 1 else ''}")
        self.count.setStyleSheet("color: #c0392b; font-weight: bold;" if n == 0 else "color: #555;")
        self.examples.show_class(task_class)

    def mousePressEvent(self, event) -> None:
        self.pressed.emit()
        super().mousePressEvent(event)

    def set_selected(self, selected: bool) -> None:
        colour = class_colour(self.index).name()
        self.setStyleSheet(
            f"ClassRow {{ border: 2px solid {colour}; border-radius: 6px; background: #f4f8fc; }}"
            if selected
            else "ClassRow { border: 1px solid #d0d7de; border-radius: 6px; }"
        )


class ClassPanel(QWidget):
    """All class rows in a scroll area, plus the "Add class" button."""

    addClassRequested = Signal()
    removeClassRequested = Signal(int)
    renamed = Signal(int, str)
    addDrawingRequested = Signal(int)
    openFilesRequested = Signal(int)
    filesDropped = Signal(int, list)  # class index, list[Path]
    removeExampleRequested = Signal(int, int)  # class index, example index
    editExampleRequested = Signal(int, int)
    selectionChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("classPanel")
        self.setAccessibleName("Classes")
        self.rows: list[ClassRow] = []
        self.selected = 0
        self._box = QVBoxLayout()
        self._box.setSpacing(6)
        self._box.setContentsMargins(0, 0, 0, 0)
        holder = QWidget()
        outer = QVBoxLayout(holder)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.addLayout(self._box)
        outer.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(holder)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.add_class = QPushButton("＋ Add class")
        self.add_class.setObjectName("addClassButton")
        self.add_class.setAccessibleName("Add class")
        self.add_class.clicked.connect(self.addClassRequested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.add_class)

    def rebuild(self, session: Session) -> None:
        """Recreate the rows (after classes were added, removed or replaced)."""
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        self.rows = []
        for i, task_class in enumerate(session.classes):
            row = ClassRow(i)
            self._wire(row)
            row.show_class(task_class)
            self._box.addWidget(row)
            self.rows.append(row)
        self.select(min(self.selected, len(self.rows) - 1) if self.rows else 0)

    def refresh(self, session: Session, index: int) -> None:
        """Redraw one row after its examples changed."""
        self.rows[index].show_class(session.classes[index])

    def select(self, index: int) -> None:
        self.selected = index
        for row in self.rows:
            row.set_selected(row.index == index)
        if self.rows:
            self.selectionChanged.emit(index)

    def _name_done(self, index: int, row: ClassRow) -> None:
        # focus leaving a name field while the window is torn down: nothing to rename
        with contextlib.suppress(RuntimeError):
            self.renamed.emit(index, row.name.text())

    def _wire(self, row: ClassRow) -> None:
        i = row.index
        row.name.editingFinished.connect(lambda: self._name_done(i, row))
        row.name.textEdited.connect(lambda text: self.renamed.emit(i, text))
        row.name.installEventFilter(self)
        row.add_drawing.clicked.connect(lambda: self.addDrawingRequested.emit(i))
        row.open_files.clicked.connect(lambda: self.openFilesRequested.emit(i))
        row.remove.clicked.connect(lambda: self.removeClassRequested.emit(i))
        row.examples.removeRequested.connect(lambda e: self.removeExampleRequested.emit(i, e))
        row.examples.editRequested.connect(lambda e: self.editExampleRequested.emit(i, e))
        row.examples.viewport().installEventFilter(self)  # a press on thumbnails or empty space
        row.pressed.connect(lambda: self.select(i))
        row.filesDropped.connect(lambda paths: self._drop(i, paths))

    def _drop(self, index: int, paths: list) -> None:
        self.select(index)
        self.filesDropped.emit(index, paths)

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.FocusIn, QEvent.Type.MouseButtonPress):
            for row in self.rows:
                if obj is row.name or obj is row.examples.viewport():
                    self.select(row.index)
        return False
