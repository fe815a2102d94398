"""The Edit menu and the window's shortcuts: undo on the canvas last drawn on, class removal undo,
clear, classify, sample a task, next class, and Enter (add the drawing to the selected class)."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QMainWindow

from metagui.control.teaching import Teaching
from metagui.ui.query_panel import QueryPanel
from metagui.ui.settings_panel import SettingsBinding
from metagui.ui.teach_panel import TeachPanel
from metagui.ui.widgets.controls import action

#: Widgets where Enter means "done typing here", never "add the drawing".
TYPING = (QLineEdit, QAbstractSpinBox, QComboBox)


class EditMenu(QObject):
    def __init__(self, window: QMainWindow, teaching: Teaching, teach: TeachPanel,
                 query: QueryPanel, settings: SettingsBinding) -> None:  # fmt: skip
        super().__init__(window)
        self.teaching, self.teach, self.query = teaching, teach, query
        self.last_canvas = teach.canvas  # the canvas last drawn on (Ctrl+Z undoes it)
        key = QKeySequence.StandardKey
        self.undo_action = action(window, "Undo", "undoAction", key.Undo)
        self.restore_example_action = action(
            window, "Undo class removal", "undoRemovalAction", "Ctrl+Shift+Z"
        )
        self.clear_action = action(window, "Clear canvas", "clearAction", "Ctrl+Del")
        self.classify_action = action(window, "Classify", "classifyAction", "Ctrl+Return")
        self.sample_action = action(window, "Sample a task", "sampleAction", "Ctrl+T")
        self.next_class_action = action(window, "Next class", "nextClassAction", "Ctrl+Tab")
        menu = window.menuBar().addMenu("&Edit")
        for item in (self.undo_action, self.restore_example_action, self.clear_action,
                     self.classify_action, self.sample_action, self.next_class_action):  # fmt: skip
            menu.addAction(item)
        self.undo_action.triggered.connect(lambda: self.last_canvas.undo())
        self.restore_example_action.triggered.connect(teaching.undo_remove_class)
        self.clear_action.triggered.connect(self._clear_last_canvas)
        self.classify_action.triggered.connect(query.request)
        self.sample_action.triggered.connect(settings.sample_task)
        self.next_class_action.triggered.connect(teach.next_class)
        for canvas in (teach.canvas, query.canvas):
            canvas.strokeFinished.connect(lambda c=canvas: setattr(self, "last_canvas", c))
        self.add_action = QAction("Add the drawing", window)
        self.add_action.setShortcuts([QKeySequence("Return"), QKeySequence("Enter")])
        self.add_action.triggered.connect(self._enter_pressed)
        window.addAction(self.add_action)

    def _enter_pressed(self) -> None:
        focus = QApplication.focusWidget()
        typing = focus is not None and any(
            isinstance(w, TYPING) for w in (focus, focus.parentWidget()) if w is not None
        )
        if typing:  # Enter in a name or number field commits it, nothing else
            focus.clearFocus()
            return
        self.teach.add_drawing(self.teach.panel.selected)

    def _clear_last_canvas(self) -> None:
        if self.last_canvas is self.query.canvas:
            self.query.clear_query()
        else:
            self.teach.canvas.clear()
