"""The metagui window: it composes the panels and binds each to its controller, nothing else.

Controllers (``metagui.control``): ``LearnerController`` ×2 (the main learner and compare
mode's), ``Teaching`` (classes, query, sampled tasks), ``Background`` (files, export, tasks).
Panels (``metagui.ui``): settings bar, teach (classes + drawing canvas), query, model (loss,
map, learner view), results (bars, compare), File and Edit menus, status bar. Importing this
module does not import torch: the first checkpoint load does, on the model thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QLineEdit,
    QMainWindow,
    QTabWidget,
    QWidget,
)

from metagui.app.checkpoints import checkpoint_dir, shipped_checkpoints
from metagui.app.records import Problem, ProblemCode
from metagui.control.background import Background
from metagui.control.calibrate import Calibrator
from metagui.control.learner import LearnerController
from metagui.control.metatrain import MetaTrainer
from metagui.control.teaching import NEW_CLASSES, Teaching
from metagui.ui.edit_menu import EditMenu
from metagui.ui.file_menu import FileMenu
from metagui.ui.help_menu import HelpMenu
from metagui.ui.learn_panel import LearnPanel
from metagui.ui.model_panel import ModelPanel
from metagui.ui.query_panel import QueryPanel
from metagui.ui.results_panel import ResultsPanel
from metagui.ui.settings_panel import SettingsBinding
from metagui.ui.status_panel import StatusPanel
from metagui.ui.teach_panel import TeachPanel
from metagui.ui.widgets.controls import SettingsBar
from metagui.ui.widgets.messages import MessageBanner

NO_CHECKPOINT = (
    "No checkpoint found in {folder}. You can still draw and teach classes; to classify, choose "
    "Checkpoint ▸ Open… or train one with “python -m core.train --algorithm anil”."
)


class MainWindow(QMainWindow):
    def __init__(self, checkpoint: Path | None = None, class_names=NEW_CLASSES) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.qsettings = QSettings("metagui", "metagui")
        self.learner = LearnerController("modelWorker", self)
        self.second = LearnerController("compareWorker", self)
        self.background = Background(self)
        self.teaching = Teaching(self.learner, self.second, class_names, self)
        self.settings = SettingsBar(["cpu"])  # the others once torch is loaded
        self.banner = MessageBanner()
        self.setup = SettingsBinding(self.settings, self.teaching, self.background,
                                     self.qsettings, self)  # fmt: skip
        self.teach = TeachPanel(self.teaching, self.background, self)
        self.query = QueryPanel(self.teaching, self.background, self.qsettings)
        self.results = ResultsPanel(self.teaching)
        self.model = ModelPanel(self.learner, self.results.winner)
        self.files = FileMenu(self, self.teaching, self.setup, self.background, self.qsettings)
        self.edit = EditMenu(self, self.teaching, self.teach, self.query, self.setup)
        self.help = HelpMenu(self, self.learner)
        self.status = StatusPanel(self, self.learner)
        self.metatrain = MetaTrainer(self)
        self.calibrator = Calibrator(self)
        self.learn = LearnPanel(self.metatrain, self.setup.load, self.setup.add_checkpoint,
                                self.calibrator)  # fmt: skip
        self._place()
        self._bind()
        geometry = self.qsettings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        chosen = self.setup.checkpoints(checkpoint)
        self.results.compare.set_checkpoints(shipped_checkpoints())
        if chosen is not None:
            QTimer.singleShot(0, lambda: self._load_first(chosen))  # after the first paint
        else:
            self.banner.show_message(NO_CHECKPOINT.format(folder=checkpoint_dir()), "error",
                                     ProblemCode.LOAD_FAILED)  # fmt: skip
        self.teach.canvas.setFocus()

    def _load_first(self, path: Path) -> None:
        """The start-up checkpoint, unless something chose one meanwhile (a session given on
        the command line opens with its own)."""
        if not self.learner.load_requested():
            self.setup.load(path)

    def _place(self) -> None:
        centre = QWidget()
        grid = QGridLayout(centre)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.addWidget(self.settings, 0, 0, 1, 3)
        grid.addWidget(self.banner, 1, 0, 1, 3)  # always there, fixed height: nothing moves
        grid.addWidget(self.teach.classes_box, 2, 0, 2, 1)
        grid.addWidget(self.teach.draw_box, 2, 1)
        grid.addWidget(self.query, 2, 2)
        grid.addWidget(self.model, 3, 1)
        grid.addWidget(self.results, 3, 2)
        for column, stretch in enumerate((4, 5, 5)):
            grid.setColumnStretch(column, stretch)
        grid.setRowStretch(2, 3)
        grid.setRowStretch(3, 2)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("viewTabs")
        self.tabs.addTab(centre, "Teach")
        self.tabs.addTab(self.learn, "Learn to learn")
        self.learn.handedOver.connect(lambda _path: self.tabs.setCurrentIndex(0))
        self.setCentralWidget(self.tabs)
        self.resize(1400, 900)

    def _bind(self) -> None:
        t, learner = self.teaching, self.learner
        t.message.connect(self._message)
        t.status.connect(self.status.message.setText)
        # a note about the last export ends with the next change to the classes or the query
        t.dirtyChanged.connect(lambda dirty: dirty and self.banner.clear_message(code="export"))
        learner.problem.connect(self._problem)
        learner.solved.connect(lambda code: self.banner.clear_message(code=code))
        learner.loaded.connect(lambda loaded: self.results.compare.add_checkpoint(loaded.path))
        self.results.shown.connect(
            lambda shown: self.query.show_prediction(shown, t.session.names())
        )
        self.results.compareCurve.connect(self.model.show_compare)
        self.setup.busyChanged.connect(self.status.busy)
        self.setup.busyChanged.connect(lambda busy: self.edit.sample_action.setEnabled(not busy))
        self.background.decoding.connect(
            lambda record: self.status.decoding(record, self.setup.decoding_text(record))
        )
        self.background.failed.connect(lambda text: self._message(text, "error", "background"))

    def _message(self, text: str, level: str, code: object = None) -> None:
        """A message of the teaching controller or the background: ``level`` "clear" ends the
        message of ``code`` (None: whatever is shown)."""
        if level == "clear":
            self.banner.clear_message(code=code)
            return
        self.banner.show_message(text, level, code)
        self.status.message.setText(text if level == "error" else "")

    def _problem(self, problem: Problem) -> None:
        if problem.code is ProblemCode.MAP_FAILED:
            return  # the map says it
        if problem.code is ProblemCode.LOAD_FAILED:
            self.status.message.setText("Checkpoint not loaded")
        self.results.support_problem(problem)
        level = "hint" if problem.code is ProblemCode.SUPPORT else "error"
        self._message(problem.text, level, problem.code)

    # ------------------------------------------------------------ what tests and scripts use
    @property
    def checkpoint(self):
        return self.learner.checkpoint

    @property
    def session(self):
        return self.teaching.session

    def threads(self):
        return (self.learner.thread, *self.background.threads(), self.second.thread)

    def closeEvent(self, event) -> None:
        if not self.files.may_discard("closing"):
            event.ignore()
            return
        self.qsettings.setValue("geometry", self.saveGeometry())
        self.qsettings.sync()
        focus = QApplication.focusWidget()
        if isinstance(focus, QLineEdit) and self.isAncestorOf(focus):
            focus.clearFocus()  # a name being edited is committed now, not after deletion
        self.metatrain.stop(900)  # the run saves its last step and ends within a second
        self.calibrator.stop()
        self.background.stop()
        for controller in (self.learner, self.second):
            controller.stop(10_000)
        super().closeEvent(event)
