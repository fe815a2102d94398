"""The Checkpoint box: the shipped and trained checkpoints, each listed with the data it was
meta-trained on ("anil-omniglot.pt · Omniglot (Vinyals)"); the closed box shows the file name
only, so the settings bar keeps its width."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter

#: item role holding the file name the closed box shows
NAME_ROLE = Qt.ItemDataRole.UserRole + 1
#: item role holding the short training-data label, once known
TRAINED_ROLE = Qt.ItemDataRole.UserRole + 2


class CheckpointBox(QComboBox):
    """Items: text "name · data", data the path as a string, tooltip path + data."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumWidth(190)  # the window fits a 1280 px screen
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(24)  # the closed box: file names, not the data labels

    def add_path(self, path: Path, index: int | None = None) -> None:
        index = self.count() if index is None else index
        self.insertItem(index, path.name, str(path))
        self.setItemData(index, path.name, NAME_ROLE)
        self.setItemData(index, str(path), Qt.ItemDataRole.ToolTipRole)

    def describe(self, path: Path, short: str, long: str) -> None:
        """Show what ``path`` was trained on (in the list and its tooltip)."""
        index = self.findData(str(path))
        if index < 0:
            return
        self.setItemText(index, f"{path.name}  ·  {short}")
        self.setItemData(index, short, TRAINED_ROLE)
        self.setItemData(index, f"{path}\nMeta-trained on {long}", Qt.ItemDataRole.ToolTipRole)
        view = self.view()
        view.setMinimumWidth(view.sizeHintForColumn(0) + 2 * view.frameWidth() + 8)

    def undescribed(self) -> list[Path]:
        """The listed checkpoints whose training data is not shown yet."""
        out = []
        for i in range(self.count()):
            name = self.itemData(i, NAME_ROLE)
            if name and self.itemData(i, TRAINED_ROLE) is None:
                out.append(Path(self.itemData(i)))
        return out

    def trained_on(self, path: Path) -> str | None:
        index = self.findData(str(path))
        return self.itemData(index, TRAINED_ROLE) if index >= 0 else None

    def paintEvent(self, event) -> None:
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        name = self.currentData(NAME_ROLE)
        if name:
            option.currentText = name
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)
