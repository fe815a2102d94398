"""The plots of a meta-training run (pyqtgraph): the meta-training loss per step, and few-shot
accuracy on held-out classes against training time, with chance and a published figure drawn
as lines. Items are created once; updates only ``setData`` (the panel throttles them)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from metagui.app.live import HeldOutResult
from metagui.ui.widgets.plots import still_plot

#: Colours of the held-out settings (5-way 1-shot, 20-way 1-shot) and of the loss.
SETTING_COLOURS = {(5, 1): "#1f77b4", (20, 1): "#ff7f0e"}
LOSS_COLOUR = "#d62728"
#: The loss curve keeps at most this many points (older ones are thinned, every other dropped).
MAX_LOSS_POINTS = 4000


def _colour(ways: int, shots: int) -> str:
    return SETTING_COLOURS.get((ways, shots), "#2ca02c")


class MetaLossPlot(pg.PlotWidget):
    """Meta-training loss (query loss of the training episodes) against the meta-step."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("metaLossPlot")
        self.setAccessibleName("Meta-training loss per step")
        self.setTitle("Meta-training loss (outer loop)", size="11pt")
        self.setLabel("bottom", "meta-step")
        self.setLabel("left", "loss (log scale)")
        self.setLogMode(y=True)
        still_plot(self)
        self.curve = pg.PlotDataItem([], [], pen=pg.mkPen(LOSS_COLOUR, width=1.5))
        self.curve.setDownsampling(auto=True, method="mean")
        self.curve.setClipToView(True)
        self.addItem(self.curve)
        self.clear_data()

    def clear_data(self) -> None:
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.curve.setData([], [])

    def add(self, step: int, loss: float) -> None:
        """Keep a point (drawn by ``draw``)."""
        self.steps.append(step)
        self.losses.append(max(loss, 1e-8))
        if len(self.steps) > MAX_LOSS_POINTS:
            self.steps, self.losses = self.steps[::2], self.losses[::2]

    def draw(self) -> None:
        if self.steps:
            self.curve.setData(np.asarray(self.steps), np.asarray(self.losses))


class HeldOutPlot(pg.PlotWidget):
    """Accuracy (%) on held-out classes against training seconds, one curve per setting, with
    dashed chance lines and dotted published figures."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("heldOutPlot")
        self.setAccessibleName("Few-shot accuracy on held-out classes against training time")
        self.setTitle("Few-shot accuracy on classes never trained on", size="11pt")
        self.setLabel("bottom", "training time (s)")
        self.setLabel("left", "accuracy (%)")
        still_plot(self)
        self.setYRange(0, 100, padding=0.02)
        self.addLegend(offset=(-10, -60))  # bottom right, clear of the curves climbing to 100
        self.curves: dict[tuple[int, int], pg.PlotDataItem] = {}
        self.points: dict[tuple[int, int], tuple[list[float], list[float]]] = {}
        self.lines: list[pg.InfiniteLine] = []

    def set_settings(
        self,
        settings: Sequence[tuple[int, int]],
        paper: dict[tuple[int, int], float],
        paper_name: str,
    ) -> None:
        """Curves for ``settings`` ((ways, shots)), their chance lines, and ``paper``'s figures
        (%) when given."""
        for curve in self.curves.values():
            self.removeItem(curve)
        for line in self.lines:
            self.removeItem(line)
        self.curves, self.points, self.lines = {}, {}, []
        for ways, shots in settings:
            colour = _colour(ways, shots)
            curve = pg.PlotDataItem(
                [],
                [],
                pen=pg.mkPen(colour, width=2),
                symbol="o",
                symbolSize=6,
                symbolBrush=colour,
                symbolPen=None,
                name=f"{ways}-way {shots}-shot",
            )
            self.addItem(curve)
            self.curves[(ways, shots)] = curve
            self.points[(ways, shots)] = ([], [])
            chance = pg.InfiniteLine(
                100 / ways,
                angle=0,
                movable=False,
                pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine),
                label=f"chance {ways}-way",
                labelOpts=_label(colour, 0.05),
            )
            self.addItem(chance, ignoreBounds=True)
            self.lines.append(chance)
            if (ways, shots) in paper:
                figure = paper[(ways, shots)]
                line = pg.InfiniteLine(
                    figure,
                    angle=0,
                    movable=False,
                    pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DotLine),
                    label=f"{paper_name} {ways}w{shots}s {figure:g} %",
                    labelOpts=_label(colour, 0.55 if ways == 5 else 0.2, below=True),
                )
                self.addItem(line, ignoreBounds=True)
                self.lines.append(line)
        self.setXRange(0, 60, padding=0.02)

    def add(self, elapsed: float, results: Sequence[HeldOutResult]) -> None:
        longest = 60.0
        for r in results:
            xs, ys = self.points.setdefault((r.ways, r.shots), ([], []))
            xs.append(elapsed)
            ys.append(100 * r.accuracy)
            longest = max(longest, xs[-1])
            if (r.ways, r.shots) in self.curves:
                self.curves[(r.ways, r.shots)].setData(xs, ys)
        self.setXRange(0, longest * 1.05, padding=0.02)

    def latest(self) -> dict[tuple[int, int], float]:
        """The last accuracy (%) of each setting."""
        return {k: ys[-1] for k, (_xs, ys) in self.points.items() if ys}


def _label(colour: str, position: float, below: bool = False) -> dict:
    """Text at ``position`` (0..1 along the line), above it (below: under it)."""
    anchor = (0, 0) if below else (0, 1)
    return {"position": position, "color": colour, "anchors": [anchor, anchor]}
