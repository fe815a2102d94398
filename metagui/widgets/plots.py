"""pyqtgraph plots: inner-loop loss curves and the query's class probabilities.

Plot items are created once; updates only call ``setData``/``setOpts`` (callers throttle them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGraphicsItem

from metagui.widgets.images import class_colour

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


class LossPlot(pg.PlotWidget):
    """One curve per adaptation: support-set loss against the step; the latest highlighted.

    Drawing cost is kept to the curves: the axes are cached as pixmaps, the x range is fixed
    for an adaptation (its step count is known when it begins) and the log-scale y range only
    widens to whole decades, so axes and grid are re-rendered rarely. Nothing relayouts the
    plot after it is built (the loss summary is a text item in the corner, not the title).
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
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

    def _cover(self, slot: int, shown: np.ndarray, last_step: int) -> None:
        """Widen the ranges (never narrow them mid-adaptation) to show ``shown``."""
        low = int(np.floor(np.log10(shown.min())))
        high = int(np.ceil(np.log10(shown.max())))
        if high == low:
            high += 1
        self._bounds[slot] = (low, high)
        if self._decades is not None:
            low, high = min(low, self._decades[0]), max(high, self._decades[1])
        self._set_ranges(max(self._x_max, last_step), (low, high))

    def _set_ranges(self, x_max: int, decades: tuple[int, int] | None) -> None:
        if x_max != self._x_max:
            self._x_max = x_max
            self.setXRange(0, x_max, padding=0.04)
        if decades is not None and decades != self._decades:
            self._decades = decades
            self.setYRange(decades[0], decades[1], padding=0.02)  # log10 units
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
            low = int(np.floor(np.log10(shown.min())))
            high = max(int(np.ceil(np.log10(shown.max()))), low + 1)
            if self._decades is not None:
                low, high = min(low, self._decades[0]), max(high, self._decades[1])
            self._set_ranges(max(self._x_max, int(steps.max())), (low, high))
            self._compare_label.setPos(self._x_max, self._decades[0])

    def compare_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Steps and losses (floored, not log-transformed) of the compared learner's curve."""
        return self._compare_latest

    def latest_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Steps and losses of the latest curve, as given (not log-transformed)."""
        return self._latest

    def curve_count(self) -> int:
        return len(self._order)


class ProbabilityPlot(pg.PlotWidget):
    """Bars of the query's class probabilities, labelled with class names; the winner stands out."""

    updated = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("probabilityPlot")
        self.setAccessibleName("Query class probabilities")
        self.setTitle("Query: class probabilities", size="11pt")
        self.setMenuEnabled(False)
        self.getPlotItem().setMouseEnabled(x=False, y=False)
        self.getPlotItem().hideButtons()
        self.setYRange(0, 1.15, padding=0)
        self.getAxis("left").setTicks([[(v, f"{v:.0%}") for v in (0, 0.25, 0.5, 0.75, 1.0)]])
        self.showGrid(y=True, alpha=0.2)
        self.probs = np.array([])
        self.names: tuple[str, ...] = ()
        self._ticks: list[tuple[int, str]] | None = None
        self._bars = pg.BarGraphItem(x=[], height=[], width=0.7, brushes=[])
        self.addItem(self._bars)
        self._labels: list[pg.TextItem] = []
        font = QFont()
        font.setPointSize(10)
        self.getAxis("bottom").setStyle(tickFont=font)
        for name in ("left", "bottom"):
            self.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def _label(self, i: int) -> pg.TextItem:
        while len(self._labels) <= i:
            item = pg.TextItem("", anchor=(0.5, 1.0), color="#222222")
            self.addItem(item)
            self._labels.append(item)
        return self._labels[i]

    def show_probs(self, probs: np.ndarray | None, names: Sequence[str]) -> None:
        """``probs`` ``(n_way,)`` or None (no query): bars, names, the predicted one bold."""
        self.names = tuple(names)
        n = len(self.names)
        probs = np.zeros(n) if probs is None or len(probs) != n else np.asarray(probs, float)
        self.probs = probs
        winner = int(np.argmax(probs)) if n and probs.max() > 0 else -1
        brushes, pens = [], []
        for i in range(n):
            colour = class_colour(i)
            if i != winner:
                colour.setAlpha(90)
            brushes.append(pg.mkBrush(colour))
            pens.append(pg.mkPen("#111111", width=2.5) if i == winner else pg.mkPen(None))
        # (pyqtgraph cannot take empty pen lists)
        self._bars.setOpts(x=np.arange(n), height=probs, brushes=brushes or None, pens=pens or None)
        chars = max(4, int(self.getPlotItem().vb.width() / max(n, 1) / 7.5))
        ticks = [(i, self._short(name, chars)) for i, name in enumerate(self.names)]
        if ticks != self._ticks:  # axis re-rendering is the costly part of a repaint
            self._ticks = ticks
            self.getAxis("bottom").setTicks([ticks])
            self.setXRange(-0.6, max(n, 2) - 0.4, padding=0)
        for i, item in enumerate(self._labels):
            item.setVisible(i < n and winner >= 0)
        for i in range(n):
            if winner < 0:
                break
            label = self._label(i)
            label.setText(f"{probs[i]:.0%}")
            label.setPos(i, min(probs[i], 1.0) + 0.01)
            label.setVisible(True)
        self.updated.emit()

    @staticmethod
    def _short(name: str, limit: int) -> str:
        return name if len(name) <= limit else name[: limit - 1] + "…"

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if getattr(self, "_bars", None) is not None and self.names:  # re-fit the names
            self.show_probs(self.probs if self.probs.any() else None, self.names)
