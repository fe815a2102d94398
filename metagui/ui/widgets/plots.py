"""The inner-loop loss plot (pyqtgraph): one curve per adaptation, the latest highlighted.

Plot items are created once; updates only call ``setData``/``setOpts`` (callers throttle them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem

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


def still_plot(plot: pg.PlotWidget) -> None:
    """A plot the user looks at, not drives: a grid, axes cached as pixmaps (redrawn only when
    their range changes), no context menu, mouse panning or auto-range button."""
    plot.showGrid(x=True, y=True, alpha=0.25)
    for name in ("left", "bottom"):
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    plot.setMenuEnabled(False)
    item = plot.getPlotItem()
    item.setMouseEnabled(x=False, y=False)
    item.hideButtons()


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
        still_plot(self)
        plot = self.getPlotItem()
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
        steps, shown = self._compare_latest
        if len(shown):  # compare mode: B's curve stays in view (a 10-step curve beside 0 steps)
            self._cover(None, shown, int(steps.max()))
            self._compare_label.setPos(self._x_max, self._decades[0])

    def forget(self) -> None:
        """Drop the kept curves (another learner was loaded: they were not its)."""
        for curve in self._curves:
            curve.setData([], [])
        self._order.clear()
        self._bounds.clear()
        self._latest = (np.array([]), np.array([]))
        self._summary.setText("")

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
