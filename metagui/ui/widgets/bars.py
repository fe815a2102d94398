"""The query's class probabilities as horizontal bars (pyqtgraph), most probable first.

Plot items are created once; updates only call ``setData``/``setOpts`` (callers throttle them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics

from metagui.app.records import ROTATION_NOTE
from metagui.ui.widgets.images import class_colour

#: Share of the plot's width the class names may take before they are elided in the middle.
NAME_SHARE = 0.6
#: Height of a bar as a share of its row.
BAR_HEIGHT = 0.72
#: Largest row height, in smallest row heights (a 3-way task does not get giant bars).
MAX_ROW_SHARE = 2.5
OTHERS_COLOUR = QColor("#c8c8c8")
WINNER_PEN = pg.mkPen("#111111", width=1.5)
NO_PEN = pg.mkPen(None)
#: Shortest bar drawn, in pixels: even a class at 0 % shows its colour.
MIN_BAR_PX = 3


class _Note(pg.LabelItem):
    """A line of text under a plot that wraps to the plot's width instead of widening it."""

    def resizeEvent(self, ev) -> None:
        width = self.rect().width()
        if width > 0 and abs(self.item.textWidth() - width) > 1:
            self.item.setTextWidth(width)
        super().resizeEvent(ev)

    def updateMin(self) -> None:
        super().updateMin()
        height = self.itemRect().height()
        self.setMinimumWidth(0)
        for hint in (Qt.SizeHint.MinimumSize, Qt.SizeHint.PreferredSize):
            self._sizeHint[hint] = (0, height)


class ProbabilityPlot(pg.PlotWidget):
    """The query's class probabilities as horizontal bars, most probable first.

    One row per class: its name on the left (elided in the middle only when the plot is too
    narrow; the tooltip lists every class in full), a bar in the class colour, the percentage at
    the bar's end; the winner is the top row, opaque, outlined and in bold. When there are more
    classes than rows fit, the last row sums up the rest ("12 others"). Without a query the rows
    list the classes in their own order, without bars.

    Cost: the names are text items inside the view, not axis ticks, and the view range depends
    only on the plot's size and the number of rows; so a probability update (even one that
    re-ranks the rows) only resets the bars and the texts that changed, never an axis or a range.
    """

    updated = Signal()

    def __init__(self, parent=None, title: str | None = None, legend: bool = True) -> None:
        """``legend``: a line under the bars explains the rotation suffix "↻90°" when a name
        carries it (the tooltip always does)."""
        super().__init__(parent)
        self.setObjectName("probabilityPlot")
        self.setAccessibleName("Query class probabilities")
        if title:
            self.setTitle(title, size="10pt")
        self.setMenuEnabled(False)
        plot = self.getPlotItem()
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.enableAutoRange(x=False, y=False)
        self._view = plot.vb
        self._view.invertY(True)  # row 0 (the winner) at the top
        self.probs = np.array([])
        self.names: tuple[str, ...] = ()
        #: what each shown row holds: class indices (the last row may be the "others" row)
        self.rows: list[tuple[int, ...]] = []
        self.row_font = QFont()
        self.row_font.setPointSize(9)
        self.winner_font = QFont(self.row_font)
        self.winner_font.setBold(True)
        metrics = QFontMetrics(self.winner_font)
        self.row_px = QFontMetrics(self.row_font).height() + 3  # smallest readable row
        self._value_px = metrics.horizontalAdvance("100%") + 10
        self._gap_px = 6
        self._gap = 0.02  # the gap in view units
        self._min_bar = 0.01  # MIN_BAR_PX in view units
        self.name_px = 0  # width the names may take (text only)
        self._capacity = 0  # rows that fit the plot's height (0: not laid out yet)
        self._range: tuple | None = None
        self._elided: dict[tuple[str, bool], str] = {}
        self._brushes: dict[tuple[int, bool], QBrush] = {}
        self._bars = pg.BarGraphItem(x0=[], y=[], width=[], height=BAR_HEIGHT, brushes=[])
        self.addItem(self._bars)
        self.name_items: list[pg.TextItem] = []
        self.value_items: list[pg.TextItem] = []
        self._legend = legend
        self._note = _Note("", size="8pt", color="#555555", justify="left")
        plot.layout.addItem(self._note, 4, 1)
        self._show_note(False)
        self._view.sigResized.connect(self._resized)

    # ---------------------------------------------------------------- layout (size, names)
    def capacity(self) -> int:
        """How many rows fit the plot's height (all of them before it is laid out)."""
        return self._capacity or max(len(self.names), 1)

    def _resized(self) -> None:
        if self._layout() and self.names:
            self.show_probs(self.probs if self.probs.any() else None, self.names)

    def _layout(self) -> bool:
        """Fit the name column and the row count to the plot's size and set the view range;
        True if anything changed."""
        width, height = self._view.width(), self._view.height()
        if width < 10 or height < 10:
            return False
        capacity = max(2, int(height // self.row_px))
        metrics = QFontMetrics(self.row_font)  # the winner's bold name may be elided alone
        texts = [*self.names, f"{len(self.names)} others"]
        widest = max(metrics.horizontalAdvance(t) for t in texts) + 2 * self._gap_px
        name_px = int(min(widest, width * NAME_SHARE))
        changed = (capacity, name_px) != (self._capacity, self.name_px)
        if changed:
            self._capacity, self.name_px = capacity, name_px
            self._elided.clear()
        bar_px = max(width - name_px - self._value_px, 10.0)
        # few classes: rows at most MAX_ROW_SHARE times the smallest height, from the top
        rows = max(min(len(self.names), capacity), int(height // (self.row_px * MAX_ROW_SHARE)), 1)
        view = ((-name_px / bar_px, 1 + self._value_px / bar_px), (-0.5, rows - 0.5))
        if view != self._range:  # changes with the size and the row count, never with probs
            self._range = view
            self._view.setRange(xRange=view[0], yRange=view[1], padding=0)
            self._gap = self._gap_px / bar_px
            self._min_bar = MIN_BAR_PX / bar_px
            changed = True
        return changed

    def _show_note(self, rotated: bool) -> None:
        rotated = rotated and self._legend
        self._note.setText(ROTATION_NOTE if rotated else "")
        self._note.setVisible(rotated)
        self._note.setMaximumHeight(10_000 if rotated else 0)

    def shown_name(self, name: str, winner: bool = False) -> str:
        """``name`` as a row shows it (the winner's in bold): whole, or elided in the middle to
        fit the column."""
        shown = self._elided.get((name, winner))
        if shown is None:
            available = self.name_px - 2 * self._gap_px
            metrics = QFontMetrics(self.winner_font if winner else self.row_font)
            fits = not self.name_px or metrics.horizontalAdvance(name) <= available
            mode = Qt.TextElideMode.ElideMiddle
            shown = name if fits else metrics.elidedText(name, mode, available)
            self._elided[(name, winner)] = shown
        return shown

    # ---------------------------------------------------------------- rows
    def _text(self, items: list[pg.TextItem], i: int, anchor: tuple[float, float]) -> pg.TextItem:
        while len(items) <= i:
            item = pg.TextItem("", anchor=anchor, color="#222222")
            item.textItem.document().setDocumentMargin(1)
            item.setFont(self.row_font)
            item.bold = False
            self.addItem(item, ignoreBounds=True)
            items.append(item)
        return items[i]

    @staticmethod
    def _set(item: pg.TextItem, text: str, bold: bool, font: QFont, bold_font: QFont) -> None:
        if item.bold != bold:  # a font change relayouts the text: only when it changes
            item.bold = bold
            item.setFont(bold_font if bold else font)
        item.setText(text)

    def show_probs(self, probs: np.ndarray | None, names: Sequence[str]) -> None:
        """``probs`` ``(n_way,)`` or None (no query): one row per class, most probable first."""
        names = tuple(names)
        if names != self.names:
            self.names = names
            self._elided.clear()
            self._show_note(any("↻" in n for n in names))
            self._layout()
        n = len(names)
        probs = np.zeros(n) if probs is None or len(probs) != n else np.asarray(probs, float)
        self.probs = probs
        ranked = bool(n > 0 and probs.max() > 0)
        order = np.argsort(-probs, kind="stable") if ranked else np.arange(n)
        capacity = self.capacity()
        if n <= capacity:
            self.rows = [(int(i),) for i in order]
        else:
            self.rows = [(int(i),) for i in order[: capacity - 1]]
            self.rows.append(tuple(int(i) for i in order[capacity - 1 :]))
        widths, brushes, pens = [], [], []
        for r, row in enumerate(self.rows):
            value = float(probs[list(row)].sum())
            widths.append(max(min(value, 1.0), self._min_bar))
            others = len(row) > 1
            winner = ranked and r == 0
            label = f"{len(row)} others" if others else self.shown_name(names[row[0]], winner)
            brushes.append(self._brush(-1 if others else row[0], winner))
            pens.append(WINNER_PEN if winner else NO_PEN)
            name = self._text(self.name_items, r, (1.0, 0.5))
            self._set(name, label, winner, self.row_font, self.winner_font)
            if name.pos().x() != -self._gap:
                name.setPos(-self._gap, r)
            name.setVisible(True)
            shown = self._text(self.value_items, r, (0.0, 0.5))
            self._set(
                shown, _percent(value) if ranked else "", winner, self.row_font, self.winner_font
            )
            shown.setPos(widths[-1] + self._gap, r)
            shown.setVisible(ranked)
        for items in (self.name_items, self.value_items):
            for item in items[len(self.rows) :]:
                item.setVisible(False)
        # (pyqtgraph cannot take empty pen lists)
        self._bars.setOpts(
            x0=np.zeros(len(widths)),
            y=np.arange(len(widths)),
            width=np.asarray(widths),
            height=BAR_HEIGHT,
            brushes=brushes or None,
            pens=pens or None,
        )
        self.setToolTip(self._tooltip(order, ranked))
        self.updated.emit()

    def _brush(self, index: int, winner: bool) -> QBrush:
        """Class ``index``'s colour (-1: the "others" row), opaque for the winner (cached)."""
        key = (index, winner)
        brush = self._brushes.get(key)
        if brush is None:
            colour = QColor(OTHERS_COLOUR) if index < 0 else class_colour(index)
            if not winner:
                colour.setAlpha(150)
            brush = self._brushes[key] = pg.mkBrush(colour)
        return brush

    def _tooltip(self, order: np.ndarray, ranked: bool) -> str:
        lines = [
            f"{self.names[i]}: {_percent(self.probs[i])}" if ranked else self.names[i]
            for i in order
        ]
        if any("↻" in n for n in self.names):
            lines.append(ROTATION_NOTE)
        return "\n".join(lines)

    def shown_rows(self) -> list[tuple[str, str]]:
        """``(name, percentage)`` of every shown row, top first, as displayed."""
        return [
            (self.name_items[r].toPlainText(), self.value_items[r].toPlainText())
            for r in range(len(self.rows))
        ]


def _percent(p: float) -> str:
    return "<1%" if 0 < p < 0.005 else f"{p:.0%}"
