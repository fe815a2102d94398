"""The metagui window: the layout (``window_layout``) bound to the session, two learner
controllers (``controller``: the main learner and compare mode's second one) and the background
work (``background``: dropped files, sampled Omniglot tasks). It never runs the model itself and
decides nothing from displayed text.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit

from metagui.app.checkpoints import checkpoint_dir, data_status, shipped_checkpoints
from metagui.app.openset import OpenSetView
from metagui.app.session import Drawing, Example, Session, TaskClass
from metagui.control.background import Background
from metagui.control.learner import (
    Adapted,
    LearnerController,
    Loaded,
    Predicted,
    Problem,
    ProblemCode,
    Query,
    Stepped,
)
from metagui.control.throttle import Debounce, Throttle
from metagui.ui.class_actions import ClassActions
from metagui.ui.compare import CompareBinding
from metagui.ui.files import FileActions
from metagui.ui.results_view import ResultsView
from metagui.ui.widgets.images import example_qimage
from metagui.ui.window_layout import WindowLayout

IMAGE_FILTER = (
    "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"
)
#: Live prediction while the pen moves: after a 120 ms pause, and at least every 250 ms.
LIVE_DELAY_MS, LIVE_MAX_WAIT_MS = 120, 250
#: Plot updates at most every 50 ms.
PLOT_INTERVAL_MS = 50
NO_MAP = (
    "{name} classifies with adapted weights, not by distances:\nits story is the inner-loop "
    "loss. The map is drawn for\nthe learners that compare embeddings (ProtoNet, Matching, "
    "Relation)."
)


class MainWindow(WindowLayout, FileActions, ClassActions, ResultsView, OpenSetView):
    #: The probability bars now show the query of ``shown_query_version``.
    predictionShown = Signal()

    def __init__(self, checkpoint: Path | None = None, class_names=("A", "B", "C")) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("metagui: teach a few-shot learner by drawing")
        self.session = Session(class_names)
        self.learner = LearnerController("modelWorker", self)
        self.second = LearnerController("compareWorker", self)
        self.background = Background(self)
        self.model_thread, self.compare_thread = self.learner.thread, self.second.thread
        self.files_thread, self.data_thread = self.background.threads()
        self._query_images: tuple[Example, ...] | None = None  # dropped or sampled query
        self._query_version = 0
        self._truth: int | None = None  # true class of a sampled query
        self._my_classes: list[TaskClass] | None = None  # the user's, while a task is sampled
        self._removed: list[tuple[int, TaskClass]] = []  # deleted classes, for undo
        self._last_canvas = None  # the canvas last drawn on (Ctrl+Z undoes it)
        self._losses: tuple[list[int], list[float]] = ([], [])
        self._new_curve: int | None = None
        self._probs: Predicted | None = None  # shown in the bars
        self._sampling_busy = False  # a task is being sampled (maybe decoding the data)
        self.shown_query_version = -1
        self._build()
        self.teach_canvas.setFocus()
        self._last_canvas = self.teach_canvas
        self._plot_throttle = Throttle(PLOT_INTERVAL_MS, self._update_plots, self)
        self._live = Debounce(LIVE_DELAY_MS, LIVE_MAX_WAIT_MS, self.request_prediction, self)
        self._hyper = Debounce(250, 600, self._hyper_changed, self)
        self.compare = CompareBinding(self, self.second)
        self._wire()
        self._init_files()
        self._init_openset()
        self.panel.rebuild(self.session)
        self._show_bars()
        self._update_sample_button()
        paths = shipped_checkpoints()
        chosen = checkpoint or self._last_checkpoint(paths)
        self.settings.set_checkpoints(paths, chosen)
        self.compare_panel.set_checkpoints(paths)
        if chosen is not None:
            self.settings.add_checkpoint(chosen)
            self.settings.select_checkpoint(chosen)
            self.load_checkpoint(chosen)
        else:
            self.banner.show_message(
                f"No checkpoint found in {checkpoint_dir()}. You can still draw and teach "
                "classes; to classify, choose Checkpoint ▸ Open… or train one with "
                "“python -m core.train --algorithm anil”.",
                "error",
                ProblemCode.LOAD_FAILED,
            )
            self._set_status_checkpoint()

    @property
    def checkpoint(self):
        return self.learner.checkpoint

    @property
    def checkpoint_path(self) -> Path | None:
        return self.learner.path

    @property
    def device(self) -> torch.device:
        return self.learner.device

    @property
    def last_job(self):
        return self.learner.last_job

    def _wire(self) -> None:
        s, p, learner = self.settings, self.panel, self.learner
        s.checkpointChosen.connect(self._checkpoint_chosen)
        s.deviceChosen.connect(self._device_chosen)
        s.hyperparametersChanged.connect(self._hyper.request)
        s.sampleRequested.connect(self.sample_task)
        s.restoreRequested.connect(self.restore_classes)
        p.addClassRequested.connect(self.add_class)
        p.removeClassRequested.connect(self.remove_class)
        p.renamed.connect(self.rename_class)
        p.addDrawingRequested.connect(self.add_drawing)
        p.openFilesRequested.connect(self._open_files_for_class)
        p.filesDropped.connect(self.add_files)
        p.removeExampleRequested.connect(self.remove_example)
        p.editExampleRequested.connect(self._edit_example)
        p.selectionChanged.connect(lambda _i: self._update_add_button())
        self.teach_canvas.filesDropped.connect(lambda paths: self.add_files(p.selected, paths))
        self.pen_width.valueChanged.connect(self._pen_width_changed)
        self.undo_button.clicked.connect(self.teach_canvas.undo)
        self.clear_button.clicked.connect(self.teach_canvas.clear)
        self.add_button.clicked.connect(lambda: self.add_drawing(p.selected))
        q = self.query_canvas
        q.strokeMoved.connect(self._query_drawn_live)
        q.strokeFinished.connect(self._query_pen_up)
        q.edited.connect(self._query_edited)
        q.filesDropped.connect(self.set_query_files)
        for canvas in (self.teach_canvas, q):
            canvas.strokeFinished.connect(lambda c=canvas: setattr(self, "_last_canvas", c))
        self.query_undo.clicked.connect(q.undo)
        self.query_clear.clicked.connect(self._clear_query)
        self.query_open.clicked.connect(self._open_query_files)
        self.classify_button.clicked.connect(self.request_prediction)
        self.model_tabs.currentChanged.connect(lambda _i: self._map_tab_changed())
        learner.loaded.connect(self._checkpoint_loaded)
        learner.stepped.connect(self._stepped)
        learner.adapted.connect(self._adapted)
        learner.predicted.connect(self._predicted)
        learner.mapped.connect(lambda found: self.map_plot.show_map(found, self._winner()))
        learner.viewed.connect(self.learner_view.show_view)
        learner.problem.connect(self._problem)
        learner.solved.connect(lambda code: self.banner.clear_message(code=code))
        bg = self.background
        bg.filesRead.connect(self._files_loaded)
        bg.decoding.connect(self._decoding)
        bg.sampled.connect(self._task_sampled)
        bg.busyChanged.connect(self._sampling)
        bg.failed.connect(lambda text: self._message(text, "error"))
        self.undo_action.triggered.connect(lambda: self._last_canvas.undo())
        self.clear_action.triggered.connect(self._clear_last_canvas)
        self.classify_action.triggered.connect(self.request_prediction)
        self.sample_action.triggered.connect(self.sample_task)
        self.next_class_action.triggered.connect(self._next_class)
        self.restore_example_action.triggered.connect(self.undo_remove_class)
        self.add_action = self._enter_action()

    def _enter_action(self):
        from PySide6.QtGui import QAction, QKeySequence

        action = QAction("Add the drawing", self)
        action.setShortcuts([QKeySequence("Return"), QKeySequence("Enter")])
        action.triggered.connect(self._enter_pressed)
        self.addAction(action)
        return action

    def _enter_pressed(self) -> None:
        focus = QApplication.focusWidget()
        if isinstance(focus, QLineEdit):  # Enter in a name field commits the name, nothing else
            focus.clearFocus()
            return
        self.add_drawing(self.panel.selected)

    def threads(self):
        return (self.model_thread, *self.background.threads(), self.compare_thread)

    def _message(self, text: str, level: str, code: object = None) -> None:
        self.banner.show_message(text, level, code)
        self.status_message.setText(text if level == "error" else "")

    # ---------------------------------------------------------------- checkpoint and device
    def load_checkpoint(self, path: Path):
        self.status_message.setText(f"Loading {path.name}…")
        return self.learner.load(path)

    def _checkpoint_chosen(self, path: Path | None) -> None:
        if path is None:
            name, _ = QFileDialog.getOpenFileName(
                self, "Open a metagui checkpoint", str(checkpoint_dir()), "Checkpoints (*.pt)"
            )
            self.settings.select_checkpoint(self.checkpoint_path)
            if not name:
                return
            path = Path(name)
        self.load_checkpoint(path)

    def _device_chosen(self, name: str) -> None:
        device = torch.device(name)
        if self.checkpoint_path is not None:
            self.learner.load(self.checkpoint_path, device)
        self.learner.device = device
        if self.second.path is not None:
            self.second.load(self.second.path, device)
        self._set_status_checkpoint()

    def _checkpoint_loaded(self, loaded: Loaded) -> None:
        learner = loaded.checkpoint.learner
        self.settings.add_checkpoint(loaded.path)
        self.settings.select_checkpoint(loaded.path)
        self.compare_panel.add_checkpoint(loaded.path)
        self.compare.title_a()
        self.settings.show_learner(learner)
        self._hyper.cancel()
        self.learner.set_overrides(*self.settings.overrides())
        metric = self.learner.has_map()
        self.model_tabs.setCurrentWidget(self.map_plot if metric else self.loss_plot)
        self.learner.map_wanted = metric
        if not metric:
            self.map_plot.show_message(NO_MAP.format(name=learner.name))
        self._show_learner_view(learner.capabilities.live_view)
        self.status_message.setText(f"Loaded {loaded.path.name}")
        self._remember_checkpoint(loaded.path)
        self._set_status_checkpoint()
        self._update_sample_button()
        self.request_prediction()

    def _hyper_changed(self) -> None:
        self.learner.set_overrides(*self.settings.overrides())
        self._mark_dirty()
        self.request_prediction()

    def _set_status_checkpoint(self) -> None:
        if self.checkpoint is None:
            self.status_checkpoint.setText("no model")
        else:
            split = self.checkpoint.metadata.get("split", "?")
            self.status_checkpoint.setText(f"{self.checkpoint.learner.name} · {split} split")
        self.status_device.setText(f"Device: {self.device.type.upper()}")

    def split(self) -> str:
        """The split whose *test* classes sampled tasks come from (never classes it trained on)."""
        if self.checkpoint is None:
            return "lake"
        return "vinyals" if self.checkpoint.metadata.get("split") == "vinyals" else "lake"

    def _update_sample_button(self) -> None:
        """Enabled with a checkpoint and the data, and not while a task is being sampled (the
        first one decodes the data for tens of seconds)."""
        button = self.settings.sample
        problem = "Load a checkpoint first" if self.checkpoint is None else None
        problem = problem or data_status(self.split())[1]
        busy = self._sampling_busy
        button.setEnabled(problem is None and not busy)
        self.sample_action.setEnabled(problem is None and not busy)
        button.setToolTip(
            problem
            or "Fill the classes with a random N-way K-shot task from classes the model never "
            f"saw in training ({self.split()} test split) and query with an unseen drawing (Ctrl+T)"
        )

    # ---------------------------------------------------------------- query
    def _query_drawn_live(self) -> None:
        self._query_images, self._truth = None, None
        self._query_version += 1
        self._live.request()

    def _query_pen_up(self) -> None:
        self._live.cancel()
        self._mark_dirty()
        self.request_prediction()

    def _query_edited(self) -> None:
        """Undo or clear on the query canvas."""
        self._query_version += 1
        if self.query_canvas.strokes() or self.query_canvas.is_empty():
            self._query_images, self._truth = None, None
        self.request_prediction()

    def _clear_query(self) -> None:
        self._query_images, self._truth = None, None
        self.query_canvas.clear()
        self._query_version += 1
        self.request_prediction()

    def set_query_files(self, paths: list):
        return self.background.read(paths, self.learner.spec, None)

    def _open_query_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Images to classify", "", IMAGE_FILTER)
        if names:
            self.set_query_files(names)

    def set_query_images(self, images: list[Example], labels: list[str]) -> None:
        self.query_canvas.set_image(example_qimage(images[0]))
        self._query_images, self._truth = tuple(images), None
        self._query_version += 1
        self.request_prediction()

    def query(self) -> Query:
        content = self._query_images
        if content is None:
            content = self.query_canvas.drawing()
        return Query(content, self._query_version)

    def has_query(self) -> bool:
        return not self.query().empty

    # ---------------------------------------------------------------- learners
    def request_prediction(self):
        """Adapt when the support changed (unless already adapting), else classify the query."""
        self._live.cancel()
        query = self.query()
        self.compare.request(query)
        job = self.learner.request(self.session, query)
        if self.checkpoint is None or query.empty:
            self._show_bars()
        return job

    def _problem(self, problem: Problem) -> None:
        level = "hint" if problem.code is ProblemCode.SUPPORT else "error"
        if problem.code is ProblemCode.MAP_FAILED:
            self.map_plot.show_message(problem.text)
            return
        if problem.code is ProblemCode.LOAD_FAILED:
            self.settings.select_checkpoint(self.checkpoint_path)
            self.status_message.setText("Checkpoint not loaded")
        if problem.code is ProblemCode.SUPPORT:
            self._probs = None
            self._show_bars()
            if self.learner.has_map():
                self.map_plot.show_message(f"No map yet: {problem.text}")
            self.compare.support_problem(problem.text)
        self._message(problem.text, level, problem.code)

    def _stepped(self, step: Stepped) -> None:
        if step.step == 0:
            self._losses = ([], [])
            self._new_curve = step.total_steps
        self._losses[0].append(step.step)
        self._losses[1].append(step.loss)
        self.status_timing.setText(f"adapting: step {step.step}/{step.total_steps}")
        self._plot_throttle.request()

    def _adapted(self, done: Adapted) -> None:
        self.status_timing.setText(
            f"adapted in {done.elapsed * 1000:.0f} ms ({done.total_steps} steps, "
            f"loss {done.loss:.3g})"
        )
        self._plot_throttle.now()
        self.loss_plot.finish()

    @property
    def last_adaptation_s(self) -> float | None:
        return self.learner.last_adaptation_s

    def _predicted(self, result: Predicted) -> None:
        self._probs = result
        self.compare.show_a(result)
        if result.adapted:  # per step: throttled; the adaptation's end shows it at once
            self._plot_throttle.request()
        else:
            self._plot_throttle.now()

    def _map_tab_changed(self) -> None:
        self.learner.map_wanted = self.model_tabs.currentWidget() is self.map_plot
        self.learner.request_map()

    # ---------------------------------------------------------------- closing
    def closeEvent(self, event) -> None:
        if not self._may_discard("closing"):
            event.ignore()
            return
        self._save_settings()
        focus = QApplication.focusWidget()
        if isinstance(focus, QLineEdit) and self.isAncestorOf(focus):
            focus.clearFocus()  # a name being edited is committed now, not after deletion
        self._live.cancel()
        self._hyper.cancel()
        self.background.stop()
        for controller in (self.learner, self.second):
            controller.stop(10_000)
        super().closeEvent(event)


__all__ = ["Drawing", "MainWindow"]
