"""The message banner above the canvases and the status bar's message."""

from __future__ import annotations

from typing import ClassVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget
from superqt import QElidingLabel


class MessageBanner(QLabel):
    """A coloured line above the canvases, in a place of its own: always there, with a fixed
    height, so that a message appearing or going moves nothing. Click to dismiss. ``code``: what
    the message is about (decided from data, never from its text)."""

    STYLES: ClassVar[dict[str, str]] = {
        "error": "background: #fdecea; color: #8a1c1c; border: 1px solid #f5c2c0;",
        "hint": "background: #fff7e0; color: #6b4e00; border: 1px solid #f1dca0;",
        "info": "background: #e8f1fb; color: #163e6b; border: 1px solid #b9d3f0;",
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.setAccessibleName("Message")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setFixedHeight(2 * self.fontMetrics().lineSpacing() + 14)
        self.level = ""
        self.code: object = None
        self.clear_message()

    def show_message(self, text: str, level: str = "error", code: object = None) -> None:
        self.level, self.code = level, code
        self.setText(text)
        self.setToolTip(text)  # the whole text when it is longer than two lines
        self.setStyleSheet(f"QLabel {{ {self.STYLES[level]} border-radius: 5px; padding: 4px; }}")

    def clear_message(self, level: str | None = None, code: object = None) -> None:
        if (level is None or self.level == level) and (code is None or self.code == code):
            self.level, self.code = "", None
            self.setText("")
            self.setToolTip("")
            self.setStyleSheet("QLabel { border: 1px solid transparent; padding: 4px; }")

    def mousePressEvent(self, event) -> None:
        self.clear_message()


class StatusText(QElidingLabel):
    """The status bar's message: cut with "…" to the room it has (never widening the window, as
    a plain label's minimum width would), the whole text in its tooltip when cut."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusMessage")
        self.setAccessibleName("Status")

    def setText(self, text: str) -> None:
        super().setText(text)
        self._update_tip()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._update_tip()

    def _update_tip(self) -> None:
        shown = QLabel.text(self)  # what is drawn (QElidingLabel.text() is the whole text)
        self.setToolTip(self.full_text() if shown != self.full_text() else "")
