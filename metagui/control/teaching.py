"""What the user is teaching, without widgets: the session's classes, the query, a sampled task
and the user's own classes kept beside it, removed classes (for undo), and whether anything is
unsaved. Every change that can change a prediction asks both learners again (``predict``).

Panels call its methods and bind its signals; tests drive it directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal

from metagui.app.records import Query
from metagui.app.session import Drawing, Example, Session, TaskClass
from metagui.app.tasks import SampledTask
from metagui.control.learner import LearnerController

#: The classes of a new session.
NEW_CLASSES = ("A", "B", "C")


class Teaching(QObject):
    classesChanged = Signal(object)  # the class to select after the change (int), or None
    classChanged = Signal(int)  # one class's examples or name changed
    queryChanged = Signal()  # the query (its content, version or truth) changed
    message = Signal(str, str, object)  # text, level ("error", "hint", "info"), code
    status = Signal(str)  # a passing note for the status bar
    dirtyChanged = Signal(bool)
    sampledChanged = Signal(bool)  # a sampled task is shown (the user's classes are kept)
    showQueryDrawing = Signal(object)  # Drawing | None: put on the query canvas (synchronous)
    showQueryImages = Signal(object)  # tuple[Example, ...]: shown on the query canvas

    def __init__(
        self,
        learner: LearnerController,
        second: LearnerController,
        class_names: Sequence[str] = NEW_CLASSES,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = Session(class_names)
        self.learner, self.second = learner, second
        self.compare_wanted = lambda: False  # set by the compare panel
        self.query_drawing = lambda: Drawing((), 0.0)  # the query canvas's strokes
        self.query_images: tuple[Example, ...] | None = None  # dropped or sampled query
        self.query_version = 0
        self.truth: int | None = None  # true class of a sampled query
        self.my_classes: list[TaskClass] | None = None  # the user's, while a task is sampled
        self.my_query: Drawing | tuple[Example, ...] | None = None  # and the user's query
        self.removed: list[tuple[int, TaskClass]] = []  # deleted classes, for undo
        self.dirty = False

    # ---------------------------------------------------------------- state
    def query(self) -> Query:
        content = self.query_images
        if content is None:
            content = self.query_drawing()
        return Query(content, self.query_version)

    def has_query(self) -> bool:
        return not self.query().empty

    def mark_dirty(self, dirty: bool = True) -> None:
        self.dirty = dirty
        self.dirtyChanged.emit(dirty)

    def predict(self):
        """Adapt when the support changed (unless already adapting), else classify the query;
        the compare learner too while its tab is open. Returns the main learner's job."""
        query = self.query()
        if self.compare_wanted():
            self.second.request(self.session, query)
        job = self.learner.request(self.session, query)
        if self.learner.checkpoint is None or query.empty:
            self.queryChanged.emit()
        return job

    # ---------------------------------------------------------------- classes
    def add_class(self) -> None:
        index = self.session.add_class()
        self._classes_changed(select=index)

    def remove_class(self, index: int) -> None:
        if len(self.session.classes) <= 1:
            self.message.emit("Keep at least one class (rename it instead).", "hint", "class")
            return
        removed = self.session.remove_class(index)
        self.removed.append((index, removed))
        self.truth = None
        self._classes_changed()
        self.status.emit(
            f"Removed class “{removed.name}” ({len(removed.examples)} example(s)): "
            "Ctrl+Shift+Z (Edit ▸ Undo class removal) brings it back."
        )

    def undo_remove_class(self) -> None:
        if not self.removed:
            return
        index, task_class = self.removed.pop()
        self._classes_changed(select=self.session.insert_class(index, task_class))
        self.status.emit(f"Class “{task_class.name}” is back.")  # the removal note has ended

    def rename_class(self, index: int, name: str) -> None:
        if not 0 <= index < len(self.session.classes):
            return
        name, old = name.strip(), self.session.classes[index].name
        others = {c.name for i, c in enumerate(self.session.classes) if i != index}
        if not name:
            self.message.emit(f"A class needs a name; “{old}” kept.", "hint", "name")
            name = old
        elif name in others:
            base, n = name, 2
            while f"{base} {n}" in others:
                n += 1
            name = f"{base} {n}"
            self.message.emit(f"“{base}” is taken: this class is called “{name}”.", "hint", "name")
        self.session.rename(index, name)
        self.mark_dirty()
        self.classChanged.emit(index)
        self.queryChanged.emit()  # the bars show the names

    def add_drawing(self, index: int, drawing: Drawing) -> bool:
        """Add ``drawing`` to class ``index``; False (with a hint) when it is empty."""
        if not 0 <= index < len(self.session.classes):
            return False
        if drawing.is_empty():
            self.message.emit("Draw something on the left canvas first, then add it.", "hint",
                              "empty drawing")  # fmt: skip
            return False
        spec = self.learner.spec
        example = Example(drawing.preprocess(spec), "drawing", drawing, spec=spec)
        self.session.add_examples(index, [example])
        self.message.emit("", "clear", "empty drawing")
        self._examples_changed(index)
        return True

    def add_examples(self, target: TaskClass, examples: list[Example]) -> None:
        """Add decoded images to ``target`` unless it was removed meanwhile."""
        if target not in self.session.classes or not examples:
            return
        index = self.session.classes.index(target)
        self.session.add_examples(index, examples)
        self.status.emit(f"Added {len(examples)} image(s) to “{target.name}”")
        self._examples_changed(index)

    def remove_example(self, class_index: int, example_index: int) -> None:
        self.session.remove_example(class_index, example_index)
        self._examples_changed(class_index)

    def _examples_changed(self, index: int) -> None:
        self.classChanged.emit(index)
        self.mark_dirty()
        self.predict()

    def _classes_changed(self, select: int | None = None) -> None:
        self.classesChanged.emit(select)
        self.mark_dirty()
        self.predict()

    def replace_classes(self, classes: list[TaskClass], query) -> None:
        """A whole new set of classes and query (a new or opened session)."""
        self.session.replace(classes)
        self.my_classes, self.truth, self.removed = None, None, []
        self.sampledChanged.emit(False)
        self.classesChanged.emit(0)
        if isinstance(query, Drawing) or not query:
            self.query_images = None
            self.set_query_drawing(query if isinstance(query, Drawing) else None)
        else:
            self.set_query_images(list(query))

    # ---------------------------------------------------------------- query
    def set_query_drawing(self, drawing: Drawing | None) -> None:
        """Show ``drawing`` (None: nothing) on the query canvas and classify it."""
        self.showQueryDrawing.emit(drawing)
        self.query_images, self.truth = None, None
        self.query_version += 1
        self.predict()
        self.queryChanged.emit()

    def query_drawn(self, live: bool) -> None:
        """The query canvas's strokes changed (``live``: the pen still moves)."""
        self.query_images, self.truth = None, None
        self.query_version += 1
        if not live:
            self.mark_dirty()

    def set_query_images(self, images: list[Example], truth: int | None = None) -> None:
        self.query_images, self.truth = tuple(images), truth
        self.showQueryImages.emit(self.query_images)
        self.query_version += 1
        self.predict()
        self.queryChanged.emit()

    # ---------------------------------------------------------------- sampled tasks
    def show_task(self, task: SampledTask) -> None:
        """Fill the classes with a sampled task (the user's own classes are kept aside)."""
        spec = task.source.spec
        classes = []
        for label, name in enumerate(task.class_names):
            images = task.support[label * task.shots : (label + 1) * task.shots]
            source = f"{task.source.name} {name}"
            classes.append(TaskClass(name, [Example(img, source, spec=spec) for img in images]))
        old = self.session.replace(classes)
        if self.my_classes is None:  # the user's own classes, kept over any number of tasks
            self.my_classes = old
            self.my_query = self.query_images or self.query_drawing()
        self.sampledChanged.emit(True)
        self.classesChanged.emit(0)
        truth_name = task.class_names[task.query_label]
        query = Example(task.query, f"{task.source.name} {truth_name}", spec=spec)
        self.set_query_images([query], truth=task.query_label)
        rotated = " (↻90°: rotated by 90°, a class of its own)" if task.rotated else ""
        self.status.emit(
            f"Sampled a {len(classes)}-way {task.shots}-shot task from the {task.source.label} "
            f"test classes{rotated}; query: another drawing of one of them."
        )
        self.mark_dirty()

    def restore_classes(self) -> None:
        """Back to the user's own classes and query after sampled tasks."""
        if self.my_classes is None:
            return
        self.session.replace(self.my_classes)
        query, self.my_classes, self.my_query = self.my_query, None, None
        self.sampledChanged.emit(False)
        self.classesChanged.emit(0)
        self.status.emit("Your own classes and query are back.")
        self.mark_dirty()
        if isinstance(query, tuple) and query:
            self.set_query_images(list(query))
        else:
            self.set_query_drawing(query if isinstance(query, Drawing) else None)
