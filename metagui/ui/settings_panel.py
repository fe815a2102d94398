"""The settings bar bound to the main learner (checkpoint, device, adaptation steps and learning
rate) and to task sampling (N-way K-shot tasks from the checkpoint's dataset, and back to the
user's own classes)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QFileDialog

from metagui.app.checkpoints import checkpoint_dir, shipped_checkpoints
from metagui.app.live import trained_checkpoints
from metagui.app.records import Loaded
from metagui.app.tasks import (
    Decoding,
    TaskSource,
    missing_data,
    other_sources,
    task_source,
    usable_source,
)
from metagui.control.background import Background
from metagui.control.teaching import Teaching
from metagui.control.throttle import Debounce
from metagui.ui.widgets.controls import SettingsBar

#: QSettings key of the last checkpoint loaded.
LAST_CHECKPOINT = "checkpoint"


class SettingsBinding(QObject):
    """``bar`` (a ``SettingsBar``) bound to the main learner, tasks and the last checkpoint."""

    busyChanged = Signal(bool)  # a task is being sampled (the progress bar shows it)

    def __init__(self, bar: SettingsBar, teaching: Teaching, background: Background,
                 qsettings: QSettings, parent=None) -> None:  # fmt: skip
        super().__init__(parent)
        self.bar, self.teaching, self.background = bar, teaching, background
        self.learner, self.qsettings = teaching.learner, qsettings
        self.sampling = False
        self._hyper = Debounce(250, 600, self._hyper_changed, self)
        bar.checkpointChosen.connect(self.choose_checkpoint)
        bar.deviceChosen.connect(self._device_chosen)
        bar.hyperparametersChanged.connect(self._hyper.request)
        bar.sampleRequested.connect(self.sample_task)
        bar.sourceChosen.connect(lambda _source: self.update_sample_button())
        bar.restoreRequested.connect(teaching.restore_classes)
        teaching.sampledChanged.connect(bar.restore.setEnabled)
        self.learner.loaded.connect(self._loaded)
        self.learner.problem.connect(lambda _p: bar.select_checkpoint(self.learner.path))
        background.busyChanged.connect(self._busy)
        background.sampled.connect(teaching.show_task)
        background.described.connect(
            lambda data: bar.checkpoint.describe(data.path, data.short, data.long)
        )
        self.update_sample_button()

    def checkpoints(self, chosen: Path | None) -> Path | None:
        """Fill the box with the shipped checkpoints; the one to load first (``chosen``, else
        the last one used if listed, else the default). The models of the "Learn to learn"
        runs follow the shipped ones."""
        paths = shipped_checkpoints() + trained_checkpoints()
        if chosen is None:
            last = self.qsettings.value(LAST_CHECKPOINT)
            shipped = last and Path(last).is_file() and any(Path(last) == p for p in paths)
            chosen = Path(last) if shipped else (paths[0] if paths else None)
        self.bar.set_checkpoints(paths, chosen)
        if chosen is not None:
            self.bar.add_checkpoint(chosen)
            self.bar.select_checkpoint(chosen)
        return chosen

    def add_checkpoint(self, path: Path) -> None:
        """List ``path`` (a model a Learn-to-learn run saved) with what it was trained on."""
        self.bar.add_checkpoint(path)
        if self.learner.checkpoint is not None:  # torch is loaded: describing is cheap now
            self.background.describe([path])

    def load(self, path: Path):
        self.teaching.status.emit(f"Loading {path.name}…")
        return self.learner.load(path)

    def choose_checkpoint(self, path: Path | None) -> None:
        if path is None:  # "Open…"
            name, _ = QFileDialog.getOpenFileName(
                self.bar, "Open a metagui checkpoint", str(checkpoint_dir()), "Checkpoints (*.pt)"
            )
            self.bar.select_checkpoint(self.learner.path)
            if not name:
                return
            path = Path(name)
        self.load(path)

    def _device_chosen(self, name: str) -> None:
        if self.learner.path is not None:
            self.learner.load(self.learner.path, name)
        self.learner.device = name
        second = self.teaching.second
        if second.path is not None:
            second.load(second.path, name)

    def _loaded(self, loaded: Loaded) -> None:
        from core.data.datasets import training_data  # torch is loaded by now

        self.bar.add_checkpoint(loaded.path)
        self.bar.select_checkpoint(loaded.path)
        box = self.bar.checkpoint
        box.describe(loaded.path, *training_data(loaded.checkpoint.metadata))
        others = box.undescribed()
        if others:  # the others, once, off the GUI thread
            self.background.describe(others)
        self._hyper.cancel()
        from core.device import available_devices  # torch is loaded by now

        self.bar.set_devices(available_devices())
        self.bar.show_learner(loaded.checkpoint.learner)
        self.learner.set_overrides(*self.bar.overrides())
        self.qsettings.setValue(LAST_CHECKPOINT, str(loaded.path))
        self.teaching.status.emit(
            f"Loaded {loaded.path.name} (meta-trained on {box.trained_on(loaded.path)})"
        )
        self._offer_sources(loaded)
        self.update_sample_button()

    def _hyper_changed(self) -> None:
        self.learner.set_overrides(*self.bar.overrides())
        self.teaching.mark_dirty()
        self.teaching.predict()

    def set_overrides(self, steps: int | None, lr: float | None) -> None:
        """Put saved ``(steps, lr)`` overrides in the boxes (None: as trained) and use them."""
        self._hyper.cancel()
        self.bar.set_overrides(steps, lr)
        self.learner.set_overrides(*self.bar.overrides())

    # ---------------------------------------------------------------- sampled tasks
    def source(self):
        """Where tasks come from: the test classes of the checkpoint's training dataset, or of
        the dataset chosen in the bar's "from" box."""
        from core.data.paths import data_root

        ckpt, chosen = self.learner.checkpoint, self.bar.source_choice()
        if chosen is None:
            return usable_source(task_source(ckpt.metadata, ckpt.preprocess, data_root()))
        name, split = chosen
        return TaskSource(name, split, data_root(), ckpt.preprocess)

    def _offer_sources(self, loaded: Loaded) -> None:
        """The other datasets whose files are here and that suit the checkpoint's inputs."""
        from core.data.datasets import split_label
        from core.data.paths import data_root

        spec = loaded.checkpoint.preprocess
        sources = other_sources(spec, data_root())
        offered = []
        for s in sources:
            which = split_label(s.name, s.split)
            label = s.title if which == s.name else f"{s.title} ({which})"
            offered.append((label, (s.name, s.split)))
        self.bar.set_sources(offered)

    def update_sample_button(self) -> None:
        """Enabled with a checkpoint and its data, and not while a task is being sampled (the
        first one decodes the data for tens of seconds)."""
        bar = self.bar
        source = None if self.learner.checkpoint is None else self.source()
        problem = "Load a checkpoint first" if source is None else missing_data(source)
        bar.sample.setEnabled(problem is None and not self.sampling)
        what = "Omniglot" if source is None or source.name == "omniglot" else source.name
        bar.sample.setText(f"Sample a{'n' if what[0] in 'AEIOU' else ''} {what} task")
        bar.sample.setToolTip(
            problem
            or "Fill the classes with a random N-way K-shot task from classes the model never "
            f"saw in training ({source.label} test classes) and query with an unseen example "
            "(Ctrl+T)"
        )

    def sample_task(self):
        if self.learner.checkpoint is None or not self.bar.sample.isEnabled():
            return None
        source = self.source()
        problem = missing_data(source)
        if problem:
            self.teaching.message.emit(problem, "error", "sample")
            return None
        self.teaching.status.emit("Sampling a task…")
        return self.background.sample(source, self.bar.ways.value(), self.bar.shots.value())

    def _busy(self, busy: bool) -> None:
        self.sampling = busy
        self.update_sample_button()
        self.busyChanged.emit(busy)

    def decoding_text(self, record: Decoding) -> str:
        if record.total:
            return (f"Decoding the {record.split} test classes (the first time only; cached "
                    f"afterwards), {record.seconds:.0f} s so far…")  # fmt: skip
        return f"Reading the {record.split} test classes…"
