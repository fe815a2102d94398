"""The File menu bound to the session: New, Open…, Open Recent, Save, Save As…, Export
classifier…, Quit. A session reopens exactly as saved: its checkpoint is loaded first and its
steps and learning rate are applied to that checkpoint only, never to another learner."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox

from metagui.app import session_file
from metagui.app.checkpoints import shipped_checkpoints
from metagui.app.records import Loaded
from metagui.app.session import SupportError
from metagui.control.background import Background
from metagui.control.teaching import NEW_CLASSES, Teaching
from metagui.ui.settings_panel import SettingsBinding
from metagui.ui.widgets.controls import action

SESSION_FILTER = "metagui sessions (*.metagui)"
MAX_RECENT = 8


class FileMenu(QObject):
    def __init__(self, window: QMainWindow, teaching: Teaching, settings: SettingsBinding,
                 background: Background, qsettings: QSettings) -> None:  # fmt: skip
        super().__init__(window)
        self.window, self.teaching, self.settings = window, teaching, settings
        self.background, self.qsettings = background, qsettings
        self.learner = teaching.learner
        self.session_path: Path | None = None
        self.ask_before_discard = True  # False: discard unsaved changes without asking
        self._pending: tuple[str, int | None, float | None] | None = None  # for a checkpoint
        key = QKeySequence.StandardKey
        self.new_action = action(window, "&New", "newAction", key.New)
        self.open_action = action(window, "&Open…", "openAction", key.Open)
        self.save_action = action(window, "&Save", "saveAction", key.Save)
        self.save_as_action = action(window, "Save &As…", "saveAsAction", key.SaveAs)
        self.export_action = action(window, "&Export classifier…", "exportAction", "Ctrl+E")
        self.quit_action = action(window, "&Quit", "quitAction", key.Quit)
        self.recent_menu = QMenu("Open &Recent", window)
        self.recent_menu.setObjectName("recentMenu")
        menu = window.menuBar().addMenu("&File")
        for item in (self.new_action, self.open_action, self.recent_menu, None, self.save_action,
                     self.save_as_action, self.export_action, None, self.quit_action):  # fmt: skip
            if item is None:
                menu.addSeparator()
            elif isinstance(item, QMenu):
                menu.addMenu(item)
            else:
                menu.addAction(item)
        self.new_action.triggered.connect(self.new_session)
        self.open_action.triggered.connect(self._open_dialog)
        self.save_action.triggered.connect(self.save_session)
        self.save_as_action.triggered.connect(lambda: self.save_session(ask=True))
        self.export_action.triggered.connect(self._export_dialog)
        self.quit_action.triggered.connect(window.close)
        background.exported.connect(lambda text: teaching.message.emit(text, "info", "export"))
        teaching.dirtyChanged.connect(lambda _d: self._update_title())
        self.learner.loaded.connect(self._loaded)
        self._update_recent()
        self._update_title()

    def _update_title(self) -> None:
        name = self.session_path.name if self.session_path else "untitled"
        self.window.setWindowTitle(f"{name}{' •' if self.teaching.dirty else ''} — metagui")

    # ------------------------------------------------------------ recent files
    def recent_files(self) -> list[Path]:
        value = self.qsettings.value("recent") or []
        return [Path(p) for p in ([value] if isinstance(value, str) else value)]

    def _add_recent(self, path: Path) -> None:
        recent = [p for p in self.recent_files() if p != path]
        self.qsettings.setValue("recent", [str(p) for p in [path, *recent][:MAX_RECENT]])
        self._update_recent()

    def _update_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            item = self.recent_menu.addAction(path.name)
            item.setToolTip(str(path))
            item.triggered.connect(lambda _c=False, p=path: self._open_recent(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def _open_recent(self, path: Path) -> None:
        if self.may_discard("opening another session"):
            self.open_session(path)

    # ------------------------------------------------------------ sessions
    def may_discard(self, doing: str) -> bool:
        """True when there are no unsaved changes, or the user saved or discarded them."""
        if not self.teaching.dirty or not self.ask_before_discard:
            return True
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self.window, "Unsaved changes", f"Save your classes and query before {doing}?",
            buttons.Save | buttons.Discard | buttons.Cancel,
        )  # fmt: skip
        if answer == buttons.Save:
            return self.save_session()
        return answer == buttons.Discard

    def new_session(self) -> None:
        if not self.may_discard("starting anew"):
            return
        from metagui.app.session import TaskClass

        self._pending = None
        self.teaching.replace_classes([TaskClass(n) for n in NEW_CLASSES], None)
        self.session_path = None
        self.teaching.mark_dirty(False)

    def _open_dialog(self) -> None:
        if not self.may_discard("opening another session"):
            return
        name, _ = QFileDialog.getOpenFileName(self.window, "Open a session", "", SESSION_FILTER)
        if name:
            self.open_session(Path(name))

    def open_session(self, path: Path) -> bool:
        """Open ``path`` exactly as saved; a bad file gets a message and changes nothing."""
        try:
            saved = session_file.load(Path(path))
        except session_file.SessionFileError as exc:
            self.teaching.message.emit(f"Could not open the session: {exc}", "error", "session")
            return False
        self.teaching.message.emit("", "clear", "session")
        self.teaching.replace_classes(saved.classes, saved.query)
        self._use_checkpoint(saved)
        self.session_path = Path(path)
        self.teaching.mark_dirty(False)
        self._add_recent(Path(path))
        return True

    def _find(self, saved: session_file.SavedSession) -> Path | None:
        if saved.checkpoint_path and Path(saved.checkpoint_path).is_file():
            return Path(saved.checkpoint_path)
        for path in shipped_checkpoints():
            if path.name == saved.checkpoint:
                return path
        return None

    def _use_checkpoint(self, saved: session_file.SavedSession) -> None:
        """Load the session's checkpoint (unless loaded) and then apply its steps and lr."""
        self._pending = None
        if saved.checkpoint is None:
            self.settings.set_overrides(saved.steps, saved.lr)
            return
        path = self._find(saved)
        current = self.learner.path
        if path is None:
            using = f"; still using {current.name}" if current else ""
            self.teaching.message.emit(
                f"This session was saved with the checkpoint {saved.checkpoint}, which is not "
                f"here{using}. Choose one in the Checkpoint box (its own steps and learning "
                "rate apply).", "hint", "session",
            )  # fmt: skip
            return
        if current is not None and path.resolve() == current.resolve():
            self.settings.set_overrides(saved.steps, saved.lr)
            self.teaching.predict()
            return
        self._pending = (path.name, saved.steps, saved.lr)
        self.settings.load(path)

    def _loaded(self, loaded: Loaded) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == loaded.path.name:
            self.settings.set_overrides(pending[1], pending[2])
        self.teaching.predict()

    def save_session(self, ask: bool = False) -> bool:
        path = self.session_path
        if path is None or ask:
            name, _ = QFileDialog.getSaveFileName(self.window, "Save the session", "",
                                                  SESSION_FILTER)  # fmt: skip
            if not name:
                return False
            path = Path(name if name.endswith(".metagui") else name + ".metagui")
        return self.save_session_to(path)

    def save_session_to(self, path: Path) -> bool:
        t = self.teaching
        query = t.query_images
        if query is None and not t.query_drawing().is_empty():
            query = t.query_drawing()
        steps, lr = self.settings.bar.overrides()
        ckpt = self.learner.path
        saved = session_file.SavedSession(
            list(t.session.classes), query, ckpt.name if ckpt else None, steps, lr,
            str(ckpt.resolve()) if ckpt else None,
            self.learner.checkpoint.learner.name if self.learner.checkpoint else None,
        )  # fmt: skip
        try:
            session_file.save(Path(path), saved)
        except OSError as exc:
            t.message.emit(f"Could not save {Path(path).name}: {exc}", "error", "session")
            return False
        self.session_path = Path(path)
        t.mark_dirty(False)
        self._add_recent(Path(path))
        t.message.emit("", "clear", None)  # whatever the banner said is about the old state
        t.status.emit(f"Saved {Path(path).name}")
        return True

    # ------------------------------------------------------------ export
    def _export_dialog(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self.window, "Export the classifier", "", "TorchScript (*.pt);;ONNX (*.onnx)"
        )
        if name:
            self.export_classifier(Path(name))

    def export_classifier(self, out: Path):
        """Adapt to the current classes as core.export does and write ``out`` off the GUI
        thread (``.pt`` TorchScript or ``.onnx``, class names embedded)."""
        t = self.teaching
        if self.learner.checkpoint is None:
            t.message.emit("Load a checkpoint before exporting.", "hint", "export")
            return None
        try:
            support = t.session.support_set(self.learner.spec)
        except SupportError as exc:
            t.message.emit(f"Nothing to export yet: {exc}", "hint", "export")
            return None
        learner, steps, lr = self.learner.checkpoint.learner, self.learner.steps, self.learner.lr
        return self.background.export(learner, self.learner.spec, support, steps, lr, Path(out))
