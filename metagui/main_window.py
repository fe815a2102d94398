"""The metagui window: teach classes by drawing or dropping examples, draw a query, watch the
model adapt (inner-loop loss) and classify (probability bars) live.

The window owns the ``Session`` (what the user made) and three worker threads: ``model``
(checkpoint loading, adaptation, classification), ``files`` (decoding dropped images) and
``data`` (reading Omniglot for sampled tasks). It never runs the model itself.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.checkpoint import Checkpoint
from core.data.spec import PreprocessSpec
from core.device import available_devices
from core.embedding_map import Projection, has_map
from metagui import jobs
from metagui.checkpoints import checkpoint_dir, data_status, shipped_checkpoints
from metagui.compare import CompareResult, CompareRunner
from metagui.session import DRAWING_SPEC, Drawing, Example, Session, SupportError, TaskClass
from metagui.throttle import Debounce, Throttle
from metagui.widgets.canvas import DrawingCanvas
from metagui.widgets.class_panel import ClassPanel
from metagui.widgets.compare_panel import ComparePanel
from metagui.widgets.controls import MessageBanner, SettingsBar, named
from metagui.widgets.embedding_plot import EmbeddingPlot
from metagui.widgets.images import class_colour, example_qimage
from metagui.widgets.plots import LossPlot, ProbabilityPlot
from metagui.worker import Job, JobThread

IMAGE_FILTER = (
    "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"
)
#: Live prediction while the pen moves: after a 120 ms pause, and at least every 250 ms.
LIVE_DELAY_MS, LIVE_MAX_WAIT_MS = 120, 250
#: Plot updates at most every 50 ms.
PLOT_INTERVAL_MS = 50


class MainWindow(QMainWindow):
    #: The probability bars now show the query of ``shown_query_version``.
    predictionShown = Signal()

    def __init__(self, checkpoint: Path | None = None, class_names=("A", "B", "C")) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("metagui: teach a few-shot learner by drawing")
        self.session = Session(class_names)
        self.checkpoint: Checkpoint | None = None
        self.checkpoint_path: Path | None = None
        self.device = torch.device("cpu")
        self._adapted: tuple[tuple, object] | None = None  # (support key, classifier)
        self._query_images: list[Example] | None = None  # dropped query images
        self._query_files: list[str] = []
        self._query_version = 0
        self._truth: int | None = None  # true class of a sampled query
        self._latest: dict[str, int] = {}  # kind -> newest job id; older results are ignored
        self._losses: tuple[list[int], list[float]] = ([], [])
        self._losses_dirty = False
        self._new_curve: int | None = None  # steps of an adaptation whose curve is not begun
        self._probs: np.ndarray | None = None  # (n_query, n_way) shown in the bars
        self._probs_names: tuple[str, ...] = ()
        self._probs_query_version = -1
        self.shown_query_version = -1
        self._previous_classes: list[TaskClass] | None = None
        self._banks: dict = {}  # Omniglot test banks, filled on the data thread
        self.last_adaptation_s: float | None = None
        self._file_jobs = itertools.count()  # file jobs never cancel each other
        self._map_context: dict | None = None  # support and query of the last prediction
        self._projection: dict[tuple, Projection] = {}  # the map's PCA of the support set

        self.model_thread = JobThread("modelWorker", self)
        self.files_thread = JobThread("filesWorker", self)
        self.data_thread = JobThread("dataWorker", self)
        self.compare = CompareRunner(self)
        for thread in self.threads():
            thread.yielded.connect(self._on_yielded)
            thread.finished_job.connect(self._on_finished)
            thread.failed.connect(self._on_failed)

        self._build()
        self._plot_throttle = Throttle(PLOT_INTERVAL_MS, self._update_plots, self)
        self._live = Debounce(LIVE_DELAY_MS, LIVE_MAX_WAIT_MS, self.request_prediction, self)
        self._hyper = Debounce(250, 600, self.request_prediction, self)
        self._wire()

        self.panel.rebuild(self.session)
        self._show_bars()
        self._update_sample_button()
        paths = shipped_checkpoints()
        chosen = checkpoint or (paths[0] if paths else None)
        self.settings.set_checkpoints(paths, chosen)
        self.compare_panel.set_checkpoints(paths)
        if chosen is not None:
            if checkpoint is not None:
                self.settings.add_checkpoint(checkpoint)
                self.settings.select_checkpoint(checkpoint)
            self.load_checkpoint(chosen)
        else:
            self.banner.show_message(
                f"No checkpoint found in {checkpoint_dir()}. You can still draw and teach classes; "
                "to classify, choose Checkpoint ▸ Open… or train one with "
                "“python -m core.train --algorithm protonet”.",
                "error",
            )
            self._set_status_checkpoint()

    # ----------------------------------------------------------------------------------------
    # layout
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
        self.undo_button = named(QPushButton("↶ Undo"), "undoStrokeButton", "Undo last stroke")
        self.clear_button = named(QPushButton("Clear"), "clearCanvasButton", "Clear the canvas")
        self.add_button = named(
            QPushButton("Add to class"),
            "addToClassButton",
            "Add the drawing to the selected class",
            "Add the drawing to the selected class (Enter)",
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
            "Predictions also update by themselves while you draw",
        )
        self.prediction = named(QLabel(), "predictionLabel", "Prediction")
        self.prediction.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prediction.setWordWrap(True)
        self.prediction.setMinimumHeight(56)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.7)
        font.setBold(True)
        self.prediction.setFont(font)
        query_box = QGroupBox("3 · Query")
        query = QVBoxLayout(query_box)
        query.addWidget(self.query_canvas, 1)
        row = QHBoxLayout()
        for widget in (self.query_undo, self.query_clear, self.query_open, self.classify_button):
            row.addWidget(widget)
        query.addLayout(row)
        query.addWidget(self.prediction)

        self.bars = ProbabilityPlot()
        self.loss_plot = LossPlot()
        self.map_plot = EmbeddingPlot()
        self.model_tabs = named(QTabWidget(), "modelTabs", "Loss curve or embedding map")
        self.model_tabs.addTab(self.loss_plot, "Inner-loop loss")
        self.model_tabs.addTab(self.map_plot, "Embedding map")
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
        grid.addWidget(self.banner, 1, 0, 1, 3)
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

        self.status_message = QLabel()
        self.status_device = QLabel()
        self.status_timing = QLabel("no adaptation yet")
        self.status_checkpoint = QLabel()
        self.statusBar().addWidget(self.status_message, 1)
        for label in (self.status_checkpoint, self.status_device, self.status_timing):
            self.statusBar().addPermanentWidget(label)
        self.resize(1400, 900)

    def _wire(self) -> None:
        s = self.settings
        s.checkpointChosen.connect(self._checkpoint_chosen)
        s.deviceChosen.connect(self._device_chosen)
        s.hyperparametersChanged.connect(self._hyper.request)
        s.sampleRequested.connect(self.sample_task)
        s.restoreRequested.connect(self.restore_classes)
        p = self.panel
        p.addClassRequested.connect(self.add_class)
        p.removeClassRequested.connect(self.remove_class)
        p.renamed.connect(self.rename_class)
        p.addDrawingRequested.connect(self.add_drawing)
        p.openFilesRequested.connect(self._open_files_for_class)
        p.filesDropped.connect(self.add_files)
        p.removeExampleRequested.connect(self.remove_example)
        p.editExampleRequested.connect(self._edit_example)
        p.selectionChanged.connect(self._selection_changed)
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
        self.query_undo.clicked.connect(q.undo)
        self.query_clear.clicked.connect(self._clear_query)
        self.query_open.clicked.connect(self._open_query_files)
        self.classify_button.clicked.connect(self.request_prediction)
        self.model_tabs.currentChanged.connect(lambda _i: self.request_map())
        self.result_tabs.currentChanged.connect(lambda _i: self._compare_opened())
        self.compare_panel.checkpointChosen.connect(self._compare_chosen)
        self.compare.loaded.connect(self._compare_loaded)
        self.compare.result.connect(self._compare_result)
        self.compare.failed.connect(self._compare_failed)
        QShortcut(QKeySequence(Qt.Key.Key_Return), self, lambda: self.add_drawing(p.selected))
        QShortcut(QKeySequence.StandardKey.Undo, self, self.teach_canvas.undo)

    def threads(self) -> tuple[JobThread, ...]:
        return (self.model_thread, self.files_thread, self.data_thread, self.compare.thread)

    # ----------------------------------------------------------------------------------------
    # checkpoint and device
    def load_checkpoint(self, path: Path) -> Job:
        self.status_message.setText(f"Loading {path.name}…")
        device = self.device
        return self._submit(self.model_thread, "load", lambda: jobs.load(path, device), path)

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
        self.device = torch.device(name)
        self._set_status_checkpoint()
        if self.checkpoint_path is not None:
            self.load_checkpoint(self.checkpoint_path)
        if self.compare.path is not None:
            self.compare.load(self.compare.path, self.device)

    def _checkpoint_loaded(self, path: Path, checkpoint: Checkpoint) -> None:
        self.checkpoint, self.checkpoint_path = checkpoint, path
        self._adapted = None
        self.settings.add_checkpoint(path)
        self.settings.select_checkpoint(path)
        self.compare_panel.add_checkpoint(path)
        self._title_compare_a()
        trained_steps, lr = checkpoint.learner.adapt_defaults()
        self.settings.steps.blockSignals(True)
        self.settings.lr.blockSignals(True)
        self.settings.steps.setValue(trained_steps or 10)
        if lr:
            self.settings.lr.setValue(float(lr))
        self.settings.steps.blockSignals(False)
        self.settings.lr.blockSignals(False)
        stepped = checkpoint.learner.capabilities.adapt_steps
        for spin in (self.settings.steps, self.settings.lr):
            spin.setEnabled(stepped)
            tip = spin.property("usualToolTip") or spin.toolTip()
            spin.setProperty("usualToolTip", tip)
            note = f"{checkpoint.learner.name} adapts without gradient steps"
            spin.setToolTip(tip if stepped else note)
        if self.banner.level == "error" and "checkpoint" in self.banner.text().lower():
            self.banner.clear_message()
        self._map_context = None
        metric = has_map(checkpoint.learner)
        self.model_tabs.setCurrentWidget(self.map_plot if metric else self.loss_plot)
        if not metric:
            self.map_plot.show_message(
                f"{checkpoint.learner.name} classifies with adapted weights, not by distances:\n"
                "its story is the inner-loop loss. The map is drawn for\n"
                "the learners that compare embeddings (ProtoNet, Matching, Relation)."
            )
        self.status_message.setText(f"Loaded {path.name}")
        self._set_status_checkpoint()
        self._update_sample_button()
        self.request_prediction()

    def _set_status_checkpoint(self) -> None:
        if self.checkpoint is None:
            self.status_checkpoint.setText("no model")
        else:
            meta = self.checkpoint.metadata
            self.status_checkpoint.setText(
                f"{self.checkpoint.learner.name} · trained on {meta.get('split', '?')} split"
            )
        self.status_device.setText(f"Device: {self.device.type.upper()}")

    def split(self) -> str:
        """The split whose *test* classes sampled tasks come from (never classes it trained on)."""
        if self.checkpoint is None:
            return "lake"
        return "vinyals" if self.checkpoint.metadata.get("split") == "vinyals" else "lake"

    def _update_sample_button(self) -> None:
        button = self.settings.sample
        if self.checkpoint is None:
            button.setEnabled(False)
            button.setToolTip("Load a checkpoint first")
            return
        _, problem = data_status(self.split())
        button.setEnabled(problem is None)
        button.setToolTip(
            problem
            or (
                "Fill the classes with a random N-way K-shot task from classes the model never "
                f"saw in training ({self.split()} test split) and query with an unseen drawing"
            )
        )

    # ----------------------------------------------------------------------------------------
    # classes and examples
    def add_class(self) -> None:
        index = self.session.add_class()
        self.panel.rebuild(self.session)
        self.panel.select(index)
        self.request_prediction()

    def remove_class(self, index: int) -> None:
        if len(self.session.classes) <= 1:
            self._problem("Keep at least one class (rename it instead).", "hint")
            return
        self.session.remove_class(index)
        self._truth = None
        self.panel.rebuild(self.session)
        self.request_prediction()

    def rename_class(self, index: int, name: str) -> None:
        if 0 <= index < len(self.session.classes):
            self.session.rename(index, name)
            self._show_bars()
            self._update_add_button()

    def add_drawing(self, index: int) -> None:
        if not 0 <= index < len(self.session.classes):
            return
        drawing = self.teach_canvas.drawing()
        if drawing.is_empty():
            self._problem(
                "Draw something on the left canvas first, then add it to a class.", "hint"
            )
            return
        spec = self._spec()
        example = Example(drawing.preprocess(spec), "drawing", drawing, spec=spec)
        self.session.add_examples(index, [example])
        self.teach_canvas.clear()
        self.panel.refresh(self.session, index)
        self.request_prediction()

    def remove_example(self, class_index: int, example_index: int) -> None:
        self.session.remove_example(class_index, example_index)
        self.panel.refresh(self.session, class_index)
        self.request_prediction()

    def _edit_example(self, class_index: int, example_index: int) -> None:
        example = self.session.classes[class_index].examples[example_index]
        if example.drawing is None:
            self._problem("Only drawn examples can be edited; this one is an image.", "hint")
            return
        self.teach_canvas.set_drawing(example.drawing)
        self.status_message.setText("Drawing copied to the canvas: edit it and add it again.")

    def add_files(self, index: int, paths: list) -> Job | None:
        """Decode image files off the GUI thread, then add the good ones to class ``index``."""
        if not paths or not 0 <= index < len(self.session.classes):
            return None
        target = self.session.classes[index]
        spec = self._spec()
        paths = [Path(p) for p in paths]
        self.status_message.setText(f"Reading {len(paths)} file(s)…")
        return self._submit(
            self.files_thread,
            f"files{next(self._file_jobs)}",
            lambda: jobs.load_files(paths, spec),
            ("class", target),
        )

    def _open_files_for_class(self, index: int) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Add images to the class", "", IMAGE_FILTER)
        if names:
            self.add_files(index, names)

    def _files_loaded(self, context, results: list[jobs.LoadedFile]) -> None:
        good = [r for r in results if r.example is not None]
        bad = [r for r in results if r.example is None]
        if bad:
            lines = "; ".join(r.error for r in bad[:4]) + ("; …" if len(bad) > 4 else "")
            skipped = f"{len(bad)} file(s) skipped" + (" (nothing added)" if not good else "")
            self._problem(f"{skipped}: {lines}", "error")
        kind, target = context
        if kind == "query":
            if good:
                self.set_query_images([r.example for r in good], [r.path.name for r in good])
            return
        if target not in self.session.classes:
            return  # the class was removed meanwhile
        if good:
            index = self.session.classes.index(target)
            self.session.add_examples(index, [r.example for r in good])
            self.panel.refresh(self.session, index)
            self.status_message.setText(f"Added {len(good)} image(s) to “{target.name}”")
            self.request_prediction()

    def _selection_changed(self, _index: int) -> None:
        self._update_add_button()

    def _update_add_button(self) -> None:
        index = self.panel.selected
        if 0 <= index < len(self.session.classes):
            colour = class_colour(index).name()
            self.add_button.setText(f"Add to class “{self.session.classes[index].name}”  ⏎")
            self.add_button.setStyleSheet(
                f"QPushButton {{ border: 2px solid {colour}; border-radius: 5px; "
                "font-weight: bold; padding: 4px; }"
            )

    def _pen_width_changed(self, value: int) -> None:
        width = value / 105.0
        self.teach_canvas.set_pen_width(width)
        self.query_canvas.set_pen_width(width)

    def _spec(self) -> PreprocessSpec:
        """How the loaded checkpoint makes its input from drawings and pictures."""
        return self.checkpoint.preprocess if self.checkpoint else DRAWING_SPEC

    # ----------------------------------------------------------------------------------------
    # sampled Omniglot tasks
    def sample_task(self) -> Job | None:
        if self.checkpoint is None:
            return None
        root, problem = data_status(self.split())
        if problem:
            self._problem(problem, "error")
            return None
        split, banks = self.split(), self._banks
        ways, shots = self.settings.ways.value(), self.settings.shots.value()
        self.status_message.setText("Sampling a task…")
        return self._submit(
            self.data_thread,
            "sample",
            lambda: jobs.sample_task(banks, root, split, ways, shots),
            None,
        )

    def _task_sampled(self, task: jobs.SampledTask) -> None:
        classes = []
        for label, name in enumerate(task.class_names):
            images = task.support[label * task.shots : (label + 1) * task.shots]
            classes.append(TaskClass(name, [Example(img, f"Omniglot {name}") for img in images]))
        old = self.session.replace(classes)
        if self._previous_classes is None or any(c.examples for c in old):
            self._previous_classes = old
        self.settings.restore.setEnabled(True)
        self.panel.selected = 0
        self.panel.rebuild(self.session)
        truth_name = task.class_names[task.query_label]
        query = Example(task.query, f"Omniglot {truth_name}")
        self.set_query_images([query], [f"unseen drawing of {truth_name}"])
        self._truth = task.query_label
        self.status_message.setText(
            f"Sampled a {len(classes)}-way {task.shots}-shot task from the {task.split} test "
            "classes; the query is another person's drawing of one of them."
        )
        self.request_prediction()

    def restore_classes(self) -> None:
        if self._previous_classes is None:
            return
        self.session.replace(self._previous_classes)
        self._previous_classes = None
        self.settings.restore.setEnabled(False)
        self._truth = None
        self.panel.rebuild(self.session)
        self._clear_query()
        self.request_prediction()

    # ----------------------------------------------------------------------------------------
    # query
    def _query_drawn_live(self) -> None:
        self._query_images = None
        self._truth = None
        self._query_version += 1
        self._live.request()

    def _query_pen_up(self) -> None:
        self._live.cancel()
        self.request_prediction()

    def _query_edited(self) -> None:
        """Undo or clear on the query canvas."""
        self._query_version += 1
        if self.query_canvas.strokes() or self.query_canvas.is_empty():
            self._query_images, self._truth = None, None
        self.request_prediction()

    def _clear_query(self) -> None:
        self._query_images, self._query_files, self._truth = None, [], None
        self.query_canvas.clear()
        self._query_version += 1
        self._probs = None
        self._show_bars()
        self.request_map()

    def set_query_files(self, paths: list) -> Job:
        spec = self._spec()
        paths = [Path(p) for p in paths]
        return self._submit(
            self.files_thread, "queryfiles", lambda: jobs.load_files(paths, spec), ("query", None)
        )

    def _open_query_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Images to classify", "", IMAGE_FILTER)
        if names:
            self.set_query_files(names)

    def set_query_images(self, images: list[Example], labels: list[str]) -> None:
        self.query_canvas.set_image(example_qimage(images[0]))
        self._query_images, self._query_files = list(images), list(labels)
        self._truth = None
        self._query_version += 1
        self.request_prediction()

    def query(self) -> Drawing | list[Example]:
        if self._query_images is not None:
            return self._query_images
        return self.query_canvas.drawing()

    def has_query(self) -> bool:
        return bool(self._query_images) or not self.query_canvas.drawing().is_empty()

    # ----------------------------------------------------------------------------------------
    # adaptation and prediction
    def support_key(self) -> tuple:
        s = self.settings
        return (
            self.session.version,
            id(self.checkpoint),
            s.steps.value(),
            s.lr.value(),
            str(self.device),
        )

    def request_prediction(self) -> Job | None:
        """Adapt when the support changed, else classify the query with the adapted model."""
        self._live.cancel()
        if self.checkpoint is None:
            self._show_bars()
            return None
        try:
            support = self.session.support_set(self._spec())
        except SupportError as exc:
            self._problem(str(exc), "hint")
            self._adapted = None
            self._probs = None
            self._show_bars()
            self._map_context = None
            if has_map(self.checkpoint.learner):
                self.map_plot.show_message(f"No map yet: {exc}")
            panel = self.compare_panel  # column B keeps its "choose" hint until it has a learner
            for column in (panel.a, panel.b) if self.compare.checkpoint else (panel.a,):
                column.show_text(str(exc))
            self.compare_panel.update_verdict()
            return None
        if self.banner.level == "hint":
            self.banner.clear_message()
        self._request_compare()
        key = self.support_key()
        query, spec, device = self.query(), self._spec(), self.device
        context = {
            "key": key,
            "query_version": self._query_version,
            "names": support.names,
            "support": support,
            "query": query,
        }
        if self._adapted is not None and self._adapted[0] == key:
            if not self.has_query():
                self._probs = None
                self._show_bars()
                self.request_map(context)
                return None
            classifier, mapper = self._adapted[1], self._mapper(context)
            return self._submit(
                self.model_thread,
                "classify",
                lambda: jobs.classify(classifier, query, spec, device, mapper),
                context,
            )
        learner, steps, lr = self.checkpoint.learner, key[2], key[3]
        if not learner.capabilities.adapt_steps:
            steps = lr = None
        mapper = self._mapper(context)
        return self._submit(
            self.model_thread,
            "adapt",
            lambda: jobs.adapt(learner, spec, support, query, steps, lr, device, mapper),
            context,
        )

    def _submit(self, thread: JobThread, kind: str, run, context) -> Job:
        job = Job(kind, run, context)
        self._latest[kind] = job.id
        self.last_job = job
        return thread.submit(job)

    def _is_current(self, job: Job) -> bool:
        return self._latest.get(job.kind) == job.id

    def _on_yielded(self, job: Job, record) -> None:
        if not self._is_current(job):
            return
        if job.kind == "adapt":
            if record.map is not None:  # the last step again, with the embedding map
                self._show_map(job.context, record.map)
                return
            if record.step == 0:
                self._losses = ([], [])
                self._new_curve = record.total_steps  # begun with the next plot update
            self._losses[0].append(record.step)
            self._losses[1].append(record.loss)
            self._losses_dirty = True
            if record.probs is not None and job.context["query_version"] == self._query_version:
                self._probs, self._probs_names = record.probs, job.context["names"]
                self._probs_query_version = job.context["query_version"]
            self._plot_throttle.request()
        elif job.kind == "classify":
            if job.context["query_version"] != self._query_version:
                return  # stale: _on_finished asks again
            if record.map is not None:
                self._show_map(job.context, record.map)
                return
            self._probs, self._probs_names = record.probs, job.context["names"]
            self._probs_query_version = job.context["query_version"]
            self._plot_throttle.now()
        elif job.kind == "sample" and record == "loading":
            self.status_message.setText(
                f"Loading the Omniglot {self.split()} test classes (the first time takes a while)…"
            )

    def _on_finished(self, job: Job, last) -> None:
        if not self._is_current(job):
            return
        if job.kind == "adapt" and last is not None:
            self._adapted = (job.context["key"], last.classifier)
            self.last_adaptation_s = last.elapsed
            self._compare_a(job, last)
            self.status_timing.setText(
                f"last adaptation: {last.elapsed * 1000:.0f} ms ({last.total_steps} steps, "
                f"loss {last.loss:.3g})"
            )
            if self.banner.level == "error" and "diverged" in self.banner.text():
                self.banner.clear_message()
            self._plot_throttle.now()  # the final state at once, not throttled
            self.loss_plot.finish()
            if job.context["query_version"] != self._query_version:
                self.request_prediction()  # the query changed during adaptation
            elif last.probs is None:
                self._probs = None
                self._show_bars()
            self._map_context = job.context
        elif job.kind == "classify" and last is not None:
            if job.context["query_version"] == self._query_version:
                self._compare_a(job, last)  # bars and map were shown as the records came
            else:
                self.request_prediction()
        elif job.kind == "map" and last is not None:
            self.map_plot.show_map(last, self._winner(last.names))
        elif job.kind == "load":
            self._checkpoint_loaded(job.context, last)
        elif job.kind == "sample" and isinstance(last, jobs.SampledTask):
            self._task_sampled(last)
        elif job.kind.startswith(("files", "queryfiles")):
            self._files_loaded(job.context, last)

    def _on_failed(self, job: Job, message: str) -> None:
        if not self._is_current(job):
            return
        if job.kind == "load":
            path = job.context
            keep = f"; still using {self.checkpoint_path.name}" if self.checkpoint_path else ""
            self._problem(f"Could not load the checkpoint {path.name}: {message}{keep}", "error")
            self.settings.select_checkpoint(self.checkpoint_path)
            self.status_message.setText("Checkpoint not loaded")
        elif job.kind == "adapt":
            self._adapted = None
            self._problem(f"Adaptation failed: {message}. Your classes are unchanged.", "error")
        elif job.kind == "sample":
            self._problem(f"Could not sample an Omniglot task: {message}", "error")
        elif job.kind == "map":
            self.map_plot.show_message(f"No map: {message}")
        else:
            self._problem(message, "error")

    def _problem(self, text: str, level: str) -> None:
        self.banner.show_message(text, level)
        self.status_message.setText(text if level == "error" else "")

    # ----------------------------------------------------------------------------------------
    # compare mode
    def _compare_wanted(self) -> bool:
        return self.compare.checkpoint is not None and (
            self.result_tabs.currentWidget() is self.compare_panel
        )

    def _compare_opened(self) -> None:
        if self.result_tabs.currentWidget() is self.compare_panel:
            self._adapted = None  # adapt both now, so that their timings compare
            self.request_prediction()

    def _compare_chosen(self, path: Path | None) -> None:
        self.compare.load(path, self.device)
        if path is None:
            self.compare_panel.b.title.setText("second learner: none")
            self.compare_panel.b.show_text("Choose a checkpoint above to compare.")
            self.compare_panel.update_verdict()
        else:
            self.compare_panel.b.title.setText(f"B: loading {path.name}…")

    def _compare_loaded(self, checkpoint: Checkpoint) -> None:
        self.compare_panel.b.title.setText(
            f"B: {checkpoint.learner.name} · {self.compare.path.name}"
        )
        self._adapted = None  # adapt both, so that their timings compare
        self.request_prediction()

    def _request_compare(self) -> None:
        if not self._compare_wanted():
            return
        spec = self.compare.checkpoint.preprocess
        try:
            support = self.session.support_set(spec)
        except SupportError:
            return
        self.compare.request(
            support, self.session.version, self.query(), self.has_query(), self.device
        )

    def _title_compare_a(self) -> None:
        name = self.checkpoint_path.name if self.checkpoint_path else ""
        self.compare_panel.a.title.setText(f"A: {self.checkpoint.learner.name} · {name}")

    def _compare_a(self, job: Job, last) -> None:
        """The first learner's result, into compare column A."""
        if self.checkpoint is None:
            return
        self._title_compare_a()
        current = job.context["query_version"] == self._query_version and self.has_query()
        steps = last.total_steps if job.kind == "adapt" else 0
        self.compare_panel.a.show_result(
            last.probs if current else None, job.context["names"], last.elapsed, job.kind, steps
        )
        self.compare_panel.update_verdict()

    def _compare_result(self, result: CompareResult) -> None:
        if not self._compare_wanted():
            return
        probs = result.probs if self.has_query() else None
        self.compare_panel.b.show_result(
            probs, result.names, result.elapsed, result.kind, result.steps
        )
        self.compare_panel.update_verdict()

    def _compare_failed(self, message: str) -> None:
        self.compare_panel.select(self.compare.path)  # a failed load keeps the previous one
        text = f"B failed: {message}"
        if self.compare.checkpoint is None:
            self.compare_panel.b.title.setText("second learner: none")
        elif "could not load" in message:
            text += f"; still comparing with {self.compare.path.name}"
        self.compare_panel.b.show_text(text, error=True)
        self.compare_panel.update_verdict()

    # ----------------------------------------------------------------------------------------
    # embedding map
    def _map_wanted(self) -> bool:
        return (
            self.checkpoint is not None
            and has_map(self.checkpoint.learner)
            and self.model_tabs.currentWidget() is self.map_plot
        )

    def _mapper(self, context: dict):
        """What a prediction job calls to map its support set and query, when the map shows."""
        if not self._map_wanted():
            return None
        learner, device = self.checkpoint.learner, self.device
        support, key = context["support"], context["key"]
        fitted = self._projection  # support key -> Projection, written on the model thread

        def mapper(queries: torch.Tensor | None) -> jobs.MapUpdate:
            projection = fitted.get(key)
            if projection is None:  # a new support set: fit once, then only queries move
                images, labels = support.images.to(device), support.labels.to(device)
                projection = Projection(learner, images, labels)
                fitted.clear()
                fitted[key] = projection
            return jobs.embedding(projection, support, queries)

        return mapper

    def _show_map(self, context: dict, found: jobs.MapUpdate) -> None:
        self._map_context = context
        self.map_plot.show_map(found, self._winner(found.names))

    def request_map(self, context: dict | None = None) -> Job | None:
        """Map the support set and query of ``context`` (default: the last prediction's) on its
        own, e.g. when the map tab is opened or the query cleared."""
        if context is not None:
            self._map_context = context
        context = self._map_context
        if context is None or not self._map_wanted():
            return None
        query = context["query"] if self.has_query() else []
        mapper, spec, device = self._mapper(context), self._spec(), self.device

        def run():
            queries = jobs.query_tensor(query, spec)
            yield mapper(None if queries is None else queries.to(device))

        return self._submit(self.model_thread, "map", run, None)

    def _winner(self, names: tuple[str, ...]) -> int | None:
        probs = self._probs
        if probs is None or probs.shape[1] != len(names) or not self.has_query():
            return None
        return int(np.argmax(probs[0]))

    # ----------------------------------------------------------------------------------------
    # plots
    def _update_plots(self) -> None:
        if self._new_curve is not None:
            self.loss_plot.begin(self._new_curve)
            self._new_curve = None
        if self._losses_dirty:
            self._losses_dirty = False
            self.loss_plot.set_latest(*self._losses)
        self._show_bars()

    def _show_bars(self) -> None:
        names = self.session.names()
        probs = self._probs
        current = probs is not None and probs.shape[1] == len(names) and self.has_query()
        self.bars.show_probs(probs[0] if current else None, names)
        self._show_prediction(probs if current else None, names)
        if current:
            self.shown_query_version = self._probs_query_version
            self.predictionShown.emit()

    def _set_prediction(self, text: str, style: str) -> None:
        # unchanged text or style sheet is not set again: a style sheet change costs a restyle
        if self.prediction.text() != text:
            self.prediction.setText(text)
        if self.prediction.styleSheet() != style:
            self.prediction.setStyleSheet(style)

    def _show_prediction(self, probs: np.ndarray | None, names: tuple[str, ...]) -> None:
        if probs is None:
            self._set_prediction("", "")
            return
        winner = int(np.argmax(probs[0]))
        text = f"→ {names[winner]}  ({probs[0, winner]:.0%})"
        colour = class_colour(winner).name()
        if len(probs) > 1:
            others = ", ".join(names[int(i)] for i in probs.argmax(1)[1:6])
            text += f"\n<small>other images: {others}</small>"
        if self._truth is not None and self._truth < len(names):
            if winner == self._truth:
                text += "  ✓ correct"
                colour = "#1e8449"
            else:
                text += f"  ✗ wrong: it is {names[self._truth]}"
                colour = "#c0392b"
        self._set_prediction(text.replace("\n", "<br>"), f"color: {colour};")

    # ----------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        self._live.cancel()
        self._hyper.cancel()
        for thread in self.threads():
            thread.stop(timeout_ms=None if thread is self.data_thread else 10_000)
        super().closeEvent(event)
