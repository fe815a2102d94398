"""What the window does with classes and examples, and with sampled Omniglot tasks (mixed into
``MainWindow``, which owns the session, the controllers and the widgets)."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from metagui.app import compute as jobs
from metagui.app.checkpoints import data_status
from metagui.app.session import Example, TaskClass
from metagui.control.background import Decoding, FilesRead
from metagui.ui.widgets.images import class_colour

IMAGE_FILTER = (
    "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"
)


class ClassActions:
    # ---------------------------------------------------------------- classes and examples
    def add_class(self) -> None:
        index = self.session.add_class()
        self._classes_changed(select=index)

    def remove_class(self, index: int) -> None:
        if len(self.session.classes) <= 1:
            self._message("Keep at least one class (rename it instead).", "hint")
            return
        removed = self.session.remove_class(index)
        self._removed.append((index, removed))
        self._truth = None
        self._classes_changed()
        self.status_message.setText(
            f"Removed class “{removed.name}” ({len(removed.examples)} example(s)): "
            "Ctrl+Shift+Z (Edit ▸ Undo class removal) brings it back."
        )

    def undo_remove_class(self) -> None:
        if not self._removed:
            return
        index, task_class = self._removed.pop()
        index = min(index, len(self.session.classes))
        self.session.classes.insert(index, task_class)
        self.session._changed()
        self._classes_changed(select=index)

    def rename_class(self, index: int, name: str) -> None:
        if not 0 <= index < len(self.session.classes):
            return
        name, old = name.strip(), self.session.classes[index].name
        others = {c.name for i, c in enumerate(self.session.classes) if i != index}
        if not name:
            self._message(f"A class needs a name; “{old}” kept.", "hint", "name")
            name = old
        elif name in others:
            base, n = name, 2
            while f"{base} {n}" in others:
                n += 1
            name = f"{base} {n}"
            self._message(f"“{base}” is taken: this class is called “{name}”.", "hint", "name")
        self.session.rename(index, name)
        self.panel.rows[index].name.setText(name)
        self._mark_dirty()
        self._show_bars()
        self._update_add_button()

    def add_drawing(self, index: int) -> None:
        if not 0 <= index < len(self.session.classes):
            return
        drawing = self.teach_canvas.drawing()
        if drawing.is_empty():
            self._message("Draw something on the left canvas first, then add it.", "hint")
            return
        spec = self.learner.spec
        example = Example(drawing.preprocess(spec), "drawing", drawing, spec=spec)
        self.session.add_examples(index, [example])
        self.teach_canvas.clear()
        self._last_canvas = self.teach_canvas
        self.panel.refresh(self.session, index)
        self._mark_dirty()
        self.request_prediction()

    def remove_example(self, class_index: int, example_index: int) -> None:
        self.session.remove_example(class_index, example_index)
        self.panel.refresh(self.session, class_index)
        self._mark_dirty()
        self.request_prediction()

    def _edit_example(self, class_index: int, example_index: int) -> None:
        example = self.session.classes[class_index].examples[example_index]
        if example.drawing is None:
            self._message("Only drawn examples can be edited; this one is an image.", "hint")
            return
        self.teach_canvas.set_drawing(example.drawing)
        self.status_message.setText("Drawing copied to the canvas: edit it and add it again.")

    def add_files(self, index: int, paths: list):
        """Decode image files off the GUI thread, then add the good ones to class ``index``."""
        if not paths or not 0 <= index < len(self.session.classes):
            return None
        self.status_message.setText(f"Reading {len(paths)} file(s)…")
        return self.background.read(paths, self.learner.spec, self.session.classes[index])

    def _open_files_for_class(self, index: int) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Add images to the class", "", IMAGE_FILTER)
        if names:
            self.add_files(index, names)

    def _files_loaded(self, read: FilesRead) -> None:
        good = [r.example for r in read.results if r.example is not None]
        bad = [r.error for r in read.results if r.example is None]
        if bad:
            lines = "; ".join(bad[:4]) + ("; …" if len(bad) > 4 else "")
            skipped = f"{len(bad)} file(s) skipped" + (" (nothing added)" if not good else "")
            self._message(f"{skipped}: {lines}", "error")
        if read.target is None:
            if good:
                names = [r.path.name for r in read.results if r.example is not None]
                self.set_query_images(good, names)
        elif read.target in self.session.classes and good:  # not removed meanwhile
            index = self.session.classes.index(read.target)
            self.session.add_examples(index, good)
            self.panel.refresh(self.session, index)
            self.status_message.setText(f"Added {len(good)} image(s) to “{read.target.name}”")
            self._mark_dirty()
            self.request_prediction()

    def _classes_changed(self, select: int | None = None) -> None:
        self.panel.rebuild(self.session)
        if select is not None:
            self.panel.select(select)
        self._mark_dirty()
        self.request_prediction()

    def _next_class(self) -> None:
        self.panel.select((self.panel.selected + 1) % len(self.session.classes))
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
        for canvas in (self.teach_canvas, self.query_canvas):
            canvas.set_pen_width(value / 105.0)

    def _clear_last_canvas(self) -> None:
        if self._last_canvas is self.query_canvas:
            self._clear_query()
        else:
            self.teach_canvas.clear()

    # ---------------------------------------------------------------- sampled Omniglot tasks
    def sample_task(self):
        if self.checkpoint is None or not self.settings.sample.isEnabled():
            return None
        root, problem = data_status(self.split())
        if problem:
            self._message(problem, "error")
            return None
        self.status_message.setText("Sampling a task…")
        ways, shots = self.settings.ways.value(), self.settings.shots.value()
        return self.background.sample(root, self.split(), ways, shots)

    def _sampling(self, busy: bool) -> None:
        self._sampling_busy = busy
        self._update_sample_button()
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.progress.setFormat("sampling a task…")

    def _decoding(self, record: Decoding) -> None:
        """Progress of the first decoding: determinate once the child reports images."""
        if record.total:
            if self.progress.maximum() != record.total:
                self.progress.setRange(0, record.total)
            self.progress.setValue(record.done)
            self.progress.setFormat(
                f"decoding Omniglot {record.source}: {record.done:,} / {record.total:,} images"
            )
        else:  # starting the process, or reading the decoded cache
            self.progress.setFormat(f"reading Omniglot… {record.seconds:.0f} s")
        text = (
            f"Decoding the Omniglot {record.split} test classes (the first time only; cached "
            f"afterwards), {record.seconds:.0f} s so far…"
            if record.total
            else f"Reading the Omniglot {record.split} test classes…"
        )
        if self.status_message.text() != text:
            self.status_message.setText(text)

    def _task_sampled(self, task: jobs.SampledTask) -> None:
        classes = []
        for label, name in enumerate(task.class_names):
            images = task.support[label * task.shots : (label + 1) * task.shots]
            classes.append(TaskClass(name, [Example(img, f"Omniglot {name}") for img in images]))
        old = self.session.replace(classes)
        if self._my_classes is None:  # the user's own classes, kept over any number of tasks
            self._my_classes = old
        self.settings.restore.setEnabled(True)
        self.panel.selected = 0
        self.panel.rebuild(self.session)
        truth_name = task.class_names[task.query_label]
        query = Example(task.query, f"Omniglot {truth_name}")
        self.set_query_images([query], [f"unseen drawing of {truth_name}"])
        self._truth = task.query_label
        rotated = (
            " (↻90°: rotated by 90°, a class of its own)"
            if any("↻" in n for n in task.class_names)
            else ""
        )
        text = (
            f"Sampled a {len(classes)}-way {task.shots}-shot task from the {task.split} test "
            f"classes{rotated}; query: another person's drawing of one of them."
        )
        self.status_message.setText(text)
        self._mark_dirty()

    def restore_classes(self) -> None:
        if self._my_classes is None:
            return
        self.session.replace(self._my_classes)
        self._my_classes = None
        self.settings.restore.setEnabled(False)
        self._truth = None
        self.panel.rebuild(self.session)
        self._clear_query()
        self._mark_dirty()
        self.request_prediction()
