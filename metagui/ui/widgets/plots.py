"""pyqtgraph plots: inner-loop loss curves and the query's class probabilities.

Plot items are created once; updates only call ``setData``/``setOpts`` (callers throttle them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics
from PySide6.QtWidgets import QGraphicsItem

from metagui.app.records import ROTATION_NOTE
from metagui.ui.widgets.images import class_colour

pg.setConfigOptions(antialias=False, background="w", foreground="#333333")

#: Smallest loss drawn on the log axis.
LOSS_FLOOR = 1e-12
#: How many past adaptations stay visible (faded) behind the latest curve.
KEPT_CURVES = 8
LATEST_COLOUR = "#d62728"
LATEST_PEN = pg.mkPen(LATEST_COLOUR, width=3)
OLD_PEN = pg.mkPen(QColor(120, 130, 140, 200), width=1.5)
COMPARE_COLOUR = "#1f77b4"
COMPARE_PEN = pg.mkPen(COMPARE_COLOUR, width=2.5, style=Qt.PenStyle.DashLine)


class DecadeAxis(pg.AxisItem):
    """A log axis that labels whole decades only. pyqtgraph labels the 2-9 minor ticks too when
    a decade or two are shown, and those labels overlap ("9 8 7 6 5 4 3 2")."""

    def tickStrings(self, values, scale, spacing):
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        return [_decade(round(v)) if abs(v - round(v)) < 1e-9 else "" for v in values]


def _decade(exponent: int) -> str:
    """10**exponent as a tick label: 0.001 ... 1000, else 1e-7."""
    return f"{10.0**exponent:g}" if -3 <= exponent <= 3 else f"1e{exponent}"


def whole_step(x_max: int, ticks: int = 6) -> int:
    """A whole tick spacing (1, 2, 5, 10, 20, 50, …) giving at most ``ticks`` ticks to
    ``x_max``."""
    step = 1
    while x_max / step > ticks:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return step


class LossPlot(pg.PlotWidget):
    """One curve per adaptation: support-set loss against the step; the latest highlighted.

    Drawing cost is kept to the curves: the axes are cached as pixmaps, the x range is fixed
    for an adaptation (its step count is known when it begins) and the log-scale y range only
    widens to whole decades, so axes and grid are re-rendered rarely. Nothing relayouts the
    plot after it is built (the loss summary is a text item in the corner, not the title).
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent, axisItems={"left": DecadeAxis("left")})
        self.setObjectName("lossPlot")
        self.setAccessibleName("Inner-loop loss per adaptation step")
        self.setTitle("Inner-loop loss (support set)", size="11pt")
        self.setLabel("bottom", "adaptation step")
        self.setLabel("left", "loss (log scale)")
        self.setLogMode(y=True)
        self.getAxis("left").enableAutoSIPrefix(False)
        self.showGrid(x=True, y=True, alpha=0.25)
        for name in ("left", "bottom"):
            self.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setMenuEnabled(False)
        plot = self.getPlotItem()
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.enableAutoRange(x=False, y=False)
        # the ranges are set here, not from the items' bounds (which pyqtgraph would recompute
        # on every setData)
        self._curves = [pg.PlotDataItem([], [], antialias=False) for _ in range(KEPT_CURVES)]
        for curve in self._curves:
            self.addItem(curve, ignoreBounds=True)
        self._order: list[int] = []  # curve slots, oldest first; the last is the latest
        self._next = 0
        self._latest: tuple[np.ndarray, np.ndarray] = (np.array([]), np.array([]))
        self._x_max = 0
        self._decades: tuple[int, int] | None = None  # shown y range, log10 of the bounds
        self._bounds: dict[int, tuple[int, int]] = {}  # curve slot -> its decades
        self._summary = pg.TextItem("", anchor=(1, 0), color="#222222")
        self._summary.setZValue(20)
        self.addItem(self._summary, ignoreBounds=True)
        # compare mode: the second learner's latest curve (e.g. Meta-LSTM against MAML's SGD)
        self._compare = pg.PlotDataItem([], [], pen=COMPARE_PEN, antialias=True)
        self._compare.setZValue(9)
        self._compare_latest: tuple[np.ndarray, np.ndarray] = (np.array([]), np.array([]))
        self.addItem(self._compare, ignoreBounds=True)
        self._compare_label = pg.TextItem("", anchor=(1, 1), color=COMPARE_COLOUR)
        self._compare_label.setZValue(20)
        self.addItem(self._compare_label, ignoreBounds=True)
        self._set_ranges(10, (-2, 1))

    def begin(self, total_steps: int = 0) -> None:
        """Start a new curve for an adaptation of ``total_steps`` steps; older curves fade."""
        slot = self._next
        self._next = (self._next + 1) % KEPT_CURVES
        if slot in self._order:
            self._order.remove(slot)
        self._order.append(slot)
        self._curves[slot].setData([], [])
        self._bounds.pop(slot, None)
        self._latest = (np.array([]), np.array([]))
        # restyle only the new latest curve and the one it replaces; older ones just fade
        for age, s in enumerate(reversed(self._order)):
            curve = self._curves[s]
            if age == 0:
                curve.opts["antialias"] = True
                curve.setPen(LATEST_PEN)
                curve.setZValue(10)
                curve.setOpacity(1.0)
            else:
                if age == 1:
                    curve.opts["antialias"] = False
                    curve.setPen(OLD_PEN)
                    curve.setZValue(0)
                curve.setOpacity(max(0.2, 1 - age / KEPT_CURVES))
        self._summary.setText("")
        kept = list(self._bounds.values())
        decades = (min(b[0] for b in kept), max(b[1] for b in kept)) if kept else None
        self._decades = None  # the range fits the kept curves again, then only widens
        self._set_ranges(max(total_steps, 1), decades)

    def set_latest(self, steps: Sequence[int], losses: Sequence[float]) -> None:
        if not self._order:
            return
        # log axis: a loss of exactly 0 is drawn at the floor instead of vanishing
        self._latest = (np.asarray(steps), np.asarray(losses, dtype=float))
        shown = np.maximum(self._latest[1], LOSS_FLOOR)
        if len(shown):
            self._cover(self._order[-1], shown, int(self._latest[0].max()))
        self._curves[self._order[-1]].setData(self._latest[0], shown)

    def finish(self) -> None:
        """The latest adaptation ended: show its loss drop in the plot's corner."""
        losses = self._latest[1]
        if len(losses):
            note = "\n(fit at step 0)" if losses.max() < 1e-6 else ""
            self._summary.setText(f"loss {losses[0]:.3g} → {losses[-1]:.3g}{note}")

    def _cover(self, slot: int | None, shown: np.ndarray, last_step: int) -> None:
        """Widen the ranges (never narrow them mid-adaptation) to show ``shown``; ``slot``:
        the kept curve whose decades these are (None: the compared learner's curve)."""
        low = int(np.floor(np.log10(shown.min())))
        high = int(np.ceil(np.log10(shown.max())))
        if high == low:
            high += 1
        if slot is not None:
            self._bounds[slot] = (low, high)
        if self._decades is not None:
            low, high = min(low, self._decades[0]), max(high, self._decades[1])
        self._set_ranges(max(self._x_max, last_step), (low, high))

    def _set_ranges(self, x_max: int, decades: tuple[int, int] | None) -> None:
        if x_max != self._x_max:
            self._x_max = x_max
            self.setXRange(0, x_max, padding=0.04)
            step = whole_step(x_max)  # steps are whole numbers: no tick at 0.5
            self.getAxis("bottom").setTickSpacing(step, step)
        if decades is not None and decades != self._decades:
            self._decades = decades
            # log10 units; the padding leaves room for the end decades' labels
            self.setYRange(decades[0], decades[1], padding=0.08)
        if self._decades is not None:
            self._summary.setPos(self._x_max, self._decades[1])

    def set_compare(self, steps: Sequence[int], losses: Sequence[float], name: str = "") -> None:
        """The compared learner's latest curve (dashed, blue), labelled ``name``; empty hides
        it. It widens the ranges like the main curve does."""
        shown = np.maximum(np.asarray(losses, dtype=float), LOSS_FLOOR)
        steps = np.asarray(steps)
        self._compare.setData(steps, shown)
        self._compare_latest = (steps, shown)
        self._compare_label.setText(f"- - B: {name}" if len(shown) else "")
        if len(shown):
            self._cover(None, shown, int(steps.max()))
            self._compare_label.setPos(self._x_max, self._decades[0])

    def compare_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Steps and losses (floored, not log-transformed) of the compared learner's curve."""
        return self._compare_latest

    def latest_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Steps and losses of the latest curve, as given (not log-transformed)."""
        return self._latest

    def curve_count(self) -> int:
        return len(self._order)


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
