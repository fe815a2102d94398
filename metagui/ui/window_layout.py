"""The window's widgets and where they sit (no behaviour: ``main_window`` binds them)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.device import available_devices
from metagui.ui.widgets.canvas import DrawingCanvas
from metagui.ui.widgets.class_panel import ClassPanel
from metagui.ui.widgets.compare_panel import ComparePanel
from metagui.ui.widgets.controls import MessageBanner, SettingsBar, StatusText, named
from metagui.ui.widgets.embedding_plot import EmbeddingPlot
from metagui.ui.widgets.learner_view import LearnerViewPanel
from metagui.ui.widgets.plots import LossPlot, ProbabilityPlot


def _action(window: QMainWindow, text: str, name: str, shortcut=None) -> QAction:
    action = QAction(text, window)
    action.setObjectName(name)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    window.addAction(action)  # shortcuts work whatever has the focus
    return action


class WindowLayout(QMainWindow):
    """Builds every widget once; the names are the stable ``objectName``s tests and users use."""

    def _build(self) -> None:
        self.settings = SettingsBar(available_devices())
        self.banner = MessageBanner()
        self.panel = ClassPanel()
        classes_box = QGroupBox("1 · Classes (click a row to choose where drawings go)")
        QVBoxLayout(classes_box).addWidget(self.panel)

        self.teach_canvas = named(
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
            "Add the drawing to the selected class (Enter; Tab selects the next class)",
        )
        self.add_button.setMinimumHeight(34)
        teach_box = QGroupBox("2 · Draw examples")
        teach = QVBoxLayout(teach_box)
        teach.addWidget(self.teach_canvas, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Pen"))
        row.addWidget(self.pen_width)
        row.addWidget(self.undo_button)
        row.addWidget(self.clear_button)
        teach.addLayout(row)
        teach.addWidget(self.add_button)

        self.query_canvas = named(
            DrawingCanvas("Draw a character\nto classify"), "queryCanvas", "Query canvas"
        )
        self.query_undo = named(QPushButton("↶ Undo"), "queryUndoButton", "Undo last query stroke")
        self.query_clear = named(QPushButton("Clear"), "queryClearButton", "Clear the query")
        self.query_open = named(
            QPushButton("Open images…"),
            "queryOpenButton",
            "Open query images",
            "Classify image files (or drop them on the query canvas)",
        )
        self.classify_button = named(
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
        self.prediction.setWordWrap(True)
        self.prediction.setFixedHeight(64)  # a longer verdict never moves the canvases
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.prediction.setFont(font)
        query_box = QGroupBox("3 · Query")
        query = QVBoxLayout(query_box)
        query.addWidget(self.query_canvas, 1)
        row = QHBoxLayout()
        for widget in (self.query_undo, self.query_clear, self.query_open, self.classify_button):
            row.addWidget(widget)
        row.addWidget(self.openset_check)
        # the buttons cannot shrink below their text; nor may the switch (it was clipped to
        # "None of thes" in a 1280 px window)
        self.openset_check.setMinimumWidth(self.openset_check.sizeHint().width())
        query.addLayout(row)
        query.addWidget(self.prediction)

        self.bars = ProbabilityPlot()
        self.loss_plot = LossPlot()
        self.map_plot = EmbeddingPlot()
        self.model_tabs = named(QTabWidget(), "modelTabs", "Loss curve or embedding map")
        self.model_tabs.addTab(self.loss_plot, "Inner-loop loss")
        self.model_tabs.addTab(self.map_plot, "Embedding map")
        self.learner_view = LearnerViewPanel()  # MANN's memory, Siamese similarities
        self.model_tabs.addTab(self.learner_view, "Learner view")
        self.model_tabs.setTabVisible(2, False)
        self.model_tabs.setMinimumHeight(230)
        self.bars.setMinimumHeight(200)
        self.compare_panel = ComparePanel()
        self.result_tabs = named(QTabWidget(), "resultTabs", "Probabilities or comparison")
        self.result_tabs.addTab(self.bars, "Probabilities")
        self.result_tabs.addTab(self.compare_panel, "Compare two learners")

        centre = QWidget()
        grid = QGridLayout(centre)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.addWidget(self.settings, 0, 0, 1, 3)
        grid.addWidget(self.banner, 1, 0, 1, 3)  # always there, fixed height: nothing moves
        grid.addWidget(classes_box, 2, 0, 2, 1)
        grid.addWidget(teach_box, 2, 1)
        grid.addWidget(query_box, 2, 2)
        grid.addWidget(self.model_tabs, 3, 1)
        grid.addWidget(self.result_tabs, 3, 2)
        grid.setColumnStretch(0, 4)
        grid.setColumnStretch(1, 5)
        grid.setColumnStretch(2, 5)
        grid.setRowStretch(2, 3)
        grid.setRowStretch(3, 2)
        self.setCentralWidget(centre)

        self.status_message = StatusText()
        self.progress = named(QProgressBar(), "progressBar", "Progress of long work")
        longest = "decoding Omniglot background: 19,280 / 19,280 images"  # as _decoding writes
        self.progress.setFixedWidth(self.progress.fontMetrics().horizontalAdvance(longest) + 40)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.status_device = QLabel()
        self.status_timing = named(QLabel("no adaptation yet"), "timingLabel", "Adaptation state")
        self.status_checkpoint = QLabel()
        self.statusBar().addWidget(self.status_message, 1)
        self.statusBar().addPermanentWidget(self.progress)
        for label in (self.status_checkpoint, self.status_device, self.status_timing):
            self.statusBar().addPermanentWidget(label)
        self._build_menu()
        self.resize(1400, 900)

    def _build_menu(self) -> None:
        key = QKeySequence.StandardKey
        self.new_action = _action(self, "&New", "newAction", key.New)
        self.open_action = _action(self, "&Open…", "openAction", key.Open)
        self.save_action = _action(self, "&Save", "saveAction", key.Save)
        self.save_as_action = _action(self, "Save &As…", "saveAsAction", key.SaveAs)
        self.export_action = _action(self, "&Export classifier…", "exportAction", "Ctrl+E")
        self.quit_action = _action(self, "&Quit", "quitAction", key.Quit)
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.setObjectName("recentMenu")
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.new_action)
        menu.addAction(self.open_action)
        menu.addMenu(self.recent_menu)
        menu.addSeparator()
        menu.addAction(self.save_action)
        menu.addAction(self.save_as_action)
        menu.addAction(self.export_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)

        self.undo_action = _action(self, "Undo", "undoAction", key.Undo)
        self.clear_action = _action(self, "Clear canvas", "clearAction", "Ctrl+Del")
        self.classify_action = _action(self, "Classify", "classifyAction", "Ctrl+Return")
        self.sample_action = _action(self, "Sample a task", "sampleAction", "Ctrl+T")
        self.next_class_action = _action(self, "Next class", "nextClassAction", "Ctrl+Tab")
        self.restore_example_action = _action(
            self, "Undo class removal", "undoRemovalAction", "Ctrl+Shift+Z"
        )
        edit = self.menuBar().addMenu("&Edit")
        for action in (
            self.undo_action,
            self.restore_example_action,
            self.clear_action,
            self.classify_action,
            self.sample_action,
            self.next_class_action,
        ):
            edit.addAction(action)
