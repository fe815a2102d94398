"""The Help menu (About metagui: versions, device, checkpoint and data folders; "Copy and
close" puts them on the clipboard as text) and the application icon."""

from __future__ import annotations

from html import escape

import PySide6
from PySide6.QtCore import QObject, Qt, qVersion
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QMainWindow, QMessageBox

from metagui.app import about
from metagui.control.learner import LearnerController
from metagui.ui.widgets.controls import action


def app_icon() -> QIcon:
    """metagui's icon (``metagui/desktop/metagui.svg``, with a 256 px PNG for any platform)."""
    icon = QIcon(str(about.DESKTOP_FILES / "metagui.svg"))
    icon.addFile(str(about.DESKTOP_FILES / "metagui.png"))
    return icon


class HelpMenu(QObject):
    def __init__(self, window: QMainWindow, learner: LearnerController) -> None:
        super().__init__(window)
        self.window, self.learner = window, learner
        self.dialog: QMessageBox | None = None
        window.setWindowIcon(app_icon())
        self.about_action = action(window, "&About metagui", "aboutAction")
        window.menuBar().addMenu("&Help").addAction(self.about_action)
        self.about_action.triggered.connect(self.show_about)

    def info(self) -> about.About:
        qt = f"{qVersion()} (PySide6 {PySide6.__version__})"
        return about.gather(qt, str(self.learner.device), self.learner.path)

    def show_about(self) -> QMessageBox:
        """Open the About box (window-modal, not blocking) and return it."""
        info = self.info()
        rows = "".join(
            f"<tr><td><b>{escape(label)}</b>&nbsp;&nbsp;</td><td>{escape(value)}</td></tr>"
            for label, value in about.lines(info)
        )
        box = QMessageBox(self.window)
        box.setObjectName("aboutDialog")
        box.setAccessibleName("About metagui")
        box.setWindowTitle("About metagui")
        box.setIconPixmap(app_icon().pixmap(64, 64))
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(
            "<p><b>metagui</b>: teach a meta-trained few-shot learner new characters by drawing "
            f"a few examples of each.</p><table>{rows}</table>"
        )
        label = box.findChild(QLabel, "qt_msgbox_label")
        if label is not None:
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        copy = box.addButton("Copy and close", QMessageBox.ButtonRole.ActionRole)
        copy.setObjectName("aboutCopyButton")
        copy.setAccessibleName("Copy these details")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(about.text(info)))
        close = box.addButton(QMessageBox.StandardButton.Close)
        close.setObjectName("aboutCloseButton")
        close.setAccessibleName("Close")
        box.findChild(QDialogButtonBox).setCenterButtons(False)
        self.dialog = box
        box.open()
        return box
