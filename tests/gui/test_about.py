"""Help ▸ About says the versions, the device and the folders the app reads; the window has
metagui's icon."""

from __future__ import annotations

import torch
from PySide6.QtWidgets import QApplication, QMessageBox

import metagui


def test_help_about_names_versions_device_and_folders(qtbot, window, random_checkpoint,
                                                      monkeypatch, tmp_path):  # fmt: skip
    monkeypatch.setenv("METAGUI_DATA", str(tmp_path / "data"))
    assert not window.windowIcon().isNull()
    window.help.about_action.trigger()
    box = window.findChild(QMessageBox, "aboutDialog")
    assert box is not None and box.isVisible()
    text = box.text()
    folders = (str(random_checkpoint), str(tmp_path / "no-checkpoints"), str(tmp_path / "data"))
    for fact in (metagui.__version__, torch.__version__, "CPU", *folders, "no Omniglot"):
        assert fact in text, fact
    copy = next(b for b in box.buttons() if b.objectName() == "aboutCopyButton")
    copy.click()
    copied = QApplication.clipboard().text()
    assert f"metagui: {metagui.__version__}" in copied
    assert f"torch: {torch.__version__}" in copied
    qtbot.waitUntil(lambda: not box.isVisible())
