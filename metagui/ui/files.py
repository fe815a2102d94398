"""The File menu: New, Open…, Open Recent, Save, Save As…, Export classifier…; QSettings keep
the recent files, the window geometry and the last checkpoint. Unsaved changes prompt on close."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox

from metagui.app import session_file
from metagui.app.session import Drawing, Session, SupportError

SESSION_FILTER = "metagui sessions (*.metagui)"
MAX_RECENT = 8


class FileActions:
    """Mixed into MainWindow (which has the session, the learner and the widgets)."""

    #: False: closing or opening another session discards unsaved changes without asking.
    ask_before_discard = True

    def _init_files(self) -> None:
        self.session_path: Path | None = None
        self.dirty = False
        self.qsettings = QSettings("metagui", "metagui")
        geometry = self.qsettings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.new_action.triggered.connect(self.new_session)
        self.open_action.triggered.connect(self._open_dialog)
        self.save_action.triggered.connect(self.save_session)
        self.save_as_action.triggered.connect(lambda: self.save_session(ask=True))
        self.export_action.triggered.connect(self._export_dialog)
        self.quit_action.triggered.connect(self.close)
        self.background.exported.connect(lambda text: self._message(text, "info", "export"))
        self._update_recent()

    def _mark_dirty(self) -> None:
        self.dirty = True
        self._update_title()

    def _update_title(self) -> None:
        name = self.session_path.name if self.session_path else "untitled"
        self.setWindowTitle(f"{name}{' •' if self.dirty else ''} — metagui")

    # ------------------------------------------------------------ settings
    def _last_checkpoint(self, shipped: list[Path]) -> Path | None:
        last = self.qsettings.value("checkpoint")
        if last and Path(last).is_file() and any(Path(last) == p for p in shipped):
            return Path(last)
        return shipped[0] if shipped else None

    def _remember_checkpoint(self, path: Path) -> None:
        self.qsettings.setValue("checkpoint", str(path))

    def _save_settings(self) -> None:
        self.qsettings.setValue("geometry", self.saveGeometry())
        self.qsettings.sync()

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
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.triggered.connect(lambda _c=False, p=path: self.open_session(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ------------------------------------------------------------ sessions
    def _may_discard(self, doing: str) -> bool:
        """True when there are no unsaved changes, or the user saved or discarded them."""
        if not self.dirty or not self.ask_before_discard:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save your classes and query before {doing}?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save_session()
        return answer == QMessageBox.StandardButton.Discard

    def new_session(self) -> None:
        if not self._may_discard("starting anew"):
            return
        self._apply_session(Session(("A", "B", "C")).classes, None)
        self.session_path, self.dirty = None, False
        self._update_title()

    def _open_dialog(self) -> None:
        if not self._may_discard("opening another session"):
            return
        name, _ = QFileDialog.getOpenFileName(self, "Open a session", "", SESSION_FILTER)
        if name:
            self.open_session(Path(name))

    def open_session(self, path: Path) -> bool:
        """Open ``path``; a bad file gets a message and changes nothing."""
        try:
            saved = session_file.load(Path(path))
        except session_file.SessionFileError as exc:
            self._message(f"Could not open the session: {exc}", "error", "session")
            return False
        self._apply_session(saved.classes, saved.query)
        if saved.steps is not None or saved.lr is not None:
            s = self.settings
            if saved.steps is not None:
                s.steps.setValue(saved.steps)
            if saved.lr is not None:
                s.lr.setValue(saved.lr)
        if (
            saved.checkpoint
            and self.checkpoint_path
            and saved.checkpoint != self.checkpoint_path.name
        ):
            self._message(
                f"Saved with the checkpoint {saved.checkpoint}; now using "
                f"{self.checkpoint_path.name}.",
                "info",
                "session",
            )
        self.session_path, self.dirty = Path(path), False
        self._add_recent(Path(path))
        self._update_title()
        return True

    def _apply_session(self, classes, query) -> None:
        self.session.replace(classes)
        self._my_classes, self._truth, self._removed = None, None, []
        self.settings.restore.setEnabled(False)
        self.panel.selected = 0
        self.panel.rebuild(self.session)
        self._query_images = None
        if isinstance(query, Drawing):
            self.query_canvas.set_drawing(query)
        elif query:
            self.set_query_images(list(query), [e.source for e in query])
            return
        else:
            self.query_canvas.clear()
        self._query_version += 1
        self.request_prediction()

    def save_session(self, ask: bool = False) -> bool:
        path = self.session_path
        if path is None or ask:
            name, _ = QFileDialog.getSaveFileName(self, "Save the session", "", SESSION_FILTER)
            if not name:
                return False
            path = Path(name if name.endswith(".metagui") else name + ".metagui")
        return self.save_session_to(path)

    def save_session_to(self, path: Path) -> bool:
        query = self._query_images if self._query_images is not None else None
        if query is None and not self.query_canvas.is_empty():
            query = self.query_canvas.drawing()
        steps, lr = self.settings.overrides()
        saved = session_file.SavedSession(
            list(self.session.classes),
            query,
            self.checkpoint_path.name if self.checkpoint_path else None,
            steps,
            lr,
        )
        try:
            session_file.save(Path(path), saved)
        except OSError as exc:
            self._message(f"Could not save {Path(path).name}: {exc}", "error", "session")
            return False
        self.session_path, self.dirty = Path(path), False
        self._add_recent(Path(path))
        self._update_title()
        self.status_message.setText(f"Saved {Path(path).name}")
        return True

    # ------------------------------------------------------------ export
    def _export_dialog(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Export the classifier", "", "TorchScript (*.pt);;ONNX (*.onnx)"
        )
        if name:
            self.export_classifier(Path(name))

    def export_classifier(self, out: Path):
        """Adapt to the current classes as core.export does and write ``out`` off the GUI
        thread (``.pt`` TorchScript or ``.onnx``, class names embedded)."""
        if self.checkpoint is None:
            self._message("Load a checkpoint before exporting.", "hint", "export")
            return None
        try:
            support = self.session.support_set(self.learner.spec)
        except SupportError as exc:
            self._message(f"Nothing to export yet: {exc}", "hint", "export")
            return None
        steps, lr = self.learner.steps, self.learner.lr
        return self.background.export(
            self.checkpoint.learner, self.learner.spec, support, steps, lr, Path(out)
        )
