"""The learner's own live view (a tab beside the loss curve and the map): MANN's memory as
heatmaps of write and read weights over the slots, one row per support image fed (and the
query's read last); Siamese similarities and MetaNet's memory attention as bars, one per support
image."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from metagui.app.records import LearnerView, MemoryView, SimilarityView
from metagui.ui.widgets.images import class_colour

#: two short lines above the plots; the tooltip (``EXPLAINED``) says all of it
CAPTIONS = {
    "memory": "Rows: support images in the order fed (class at left), the query last. "
    "Left: slots written; right: slots read. (Hover for more.)",
    "similarity": "p(same character) of the query with each support image; the class of the "
    "most similar one wins.",
    "attention": "How the query reads the memory: one bar per support image (its fast weights). "
    "(Hover for more.)",
}
EXPLAINED = {
    "memory": (
        "The memory at work: each row is one support image fed to the network (in the order "
        "fed, its class on the left), the last row the query. Left: where it wrote (least "
        "recently used slots); right: where it read. A query reading the slots a class was "
        "written to is recognised as that class. (Shown once every class has an example.)"
    ),
    "similarity": (
        "p(same character) of the query with each support image (bars coloured by class). The "
        "class of the most similar support image wins. (Shown once there is a query.)"
    ),
    "attention": (
        "MetaNet stores fast weights for each support image, generated from its loss gradient. "
        "The query reads them by attention (cosine similarity in the fast-weighted hidden layer, "
        "softmax over the support images; the bars sum to 1) and classifies with what it read. "
        "Most of the weight on one class's images: that class wins. (Shown once there is a query.)"
    ),
}
#: bar plots: the plot's title and y-axis label per view kind
BAR_LABELS = {
    "similarity": ("p(same) to each support image", "p(same)"),
    "attention": ("attention over the support images", "read weight"),
}
#: row names on the heatmaps' left axis: at most one per ROW_LABEL_PX pixels of the plot's height
#: (MAX_ROW_LABELS before the plot has a size), so 20 names do not print over each other
MAX_ROW_LABELS = 24
ROW_LABEL_PX = 14
STRIP = 10  # slots' width of the class-colour strip left of the heatmaps


class LearnerViewPanel(QWidget):
    """Shows a ``MemoryView`` or a ``SimilarityView``; ``kind`` is the learner's
    ``capabilities.live_view`` ("" hides everything)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("learnerView")
        self.setAccessibleName("What the learner does with the support set")
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.caption.setObjectName("learnerViewCaption")
        # neither the caption nor the plots may ask for more height than the tab has: a taller
        # tab would shrink both canvases (it did, by ~80 px, for MANN and Siamese)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.caption.setFixedHeight(2 * self.caption.fontMetrics().lineSpacing() + 4)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(0, 0)
        self.graphics.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.graphics, 1)
        self.kind = ""
        self.current: LearnerView | None = None
        self._write_plot = self._read_plot = self._bar_plot = None
        self._row_labels: list[str] = []

    def set_kind(self, kind: str) -> None:
        """Build the plots for a learner's view kind (called when a checkpoint is loaded)."""
        if kind == self.kind:
            return
        self.kind, self.current = kind, None
        self.graphics.clear()
        self.graphics.hide()  # until the first view: empty axes would say nothing
        self.caption.setText(CAPTIONS.get(kind, ""))
        self.caption.setToolTip(EXPLAINED.get(kind, ""))
        self._write_plot = self._read_plot = self._bar_plot = None
        self._row_labels = []
        if kind == "memory":
            self._write_plot, self._write = self._heatmap("written", "memory slot")
            self._read_plot, self._read = self._heatmap("read", "memory slot")
            self._read_plot.setYLink(self._write_plot)
            self._read_plot.hideAxis("left")
            self._write_plot.vb.sigResized.connect(self._name_rows)  # fewer names if shorter
            self._strip = pg.ImageItem(axisOrder="row-major")  # each row's class colour
            self._write_plot.addItem(self._strip)
            self._query_lines = []
            for plot in (self._write_plot, self._read_plot):  # the query rows' border
                line = pg.InfiniteLine(angle=0, pen=pg.mkPen("w", width=2))
                line.hide()
                plot.addItem(line)
                self._query_lines.append(line)
        elif kind in BAR_LABELS:
            title, y_label = BAR_LABELS[kind]
            plot = self.graphics.addPlot(title=title)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setYRange(0, 1.05, padding=0)
            plot.setLabel("left", y_label)
            self._bars = pg.BarGraphItem(x=[], height=[], width=0.8)
            plot.addItem(self._bars)
            self._bar_plot = plot

    def _heatmap(self, title: str, x_label: str) -> tuple[pg.PlotItem, pg.ImageItem]:
        plot = self.graphics.addPlot(title=title)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.invertY(True)
        plot.setLabel("bottom", x_label)
        image = pg.ImageItem(axisOrder="row-major")
        image.setColorMap(pg.colormap.get("viridis"))
        plot.addItem(image)
        return plot, image

    def show_view(self, view: LearnerView) -> None:
        self.current = view
        self.graphics.show()
        if isinstance(view, MemoryView) and self.kind == "memory":
            self._show_memory(view)
        elif isinstance(view, SimilarityView) and self.kind in BAR_LABELS:
            self._show_similarity(view)

    def _show_memory(self, view: MemoryView) -> None:
        labels = [view.names[int(c)] for c in view.labels]
        colours = [class_colour(int(c)).getRgb() for c in view.labels]
        write, read = view.write, view.read
        for line in self._query_lines:
            line.setVisible(view.query_read is not None)
            line.setValue(len(labels))
        if view.query_read is not None:
            colours += [(0, 0, 0, 255)] * len(view.query_read)
            labels += ["query"] * len(view.query_read)
            write = np.vstack([write, np.zeros_like(view.query_read)])  # a query writes nothing
            read = np.vstack([read, view.query_read])
        for plot, image, shown in (
            (self._write_plot, self._write, write),
            (self._read_plot, self._read, read),
        ):
            image.setImage(shown, levels=(0.0, max(float(shown.max()), 1e-6)))
            plot.setXRange(-STRIP, shown.shape[1], padding=0)
            plot.setYRange(0, shown.shape[0], padding=0)
        strip = np.asarray(colours, dtype=np.uint8)[:, None, :]
        self._strip.setImage(strip, levels=None)
        self._strip.setRect(-STRIP, 0, STRIP * 0.8, len(colours))
        self._row_labels = labels
        self._name_rows()

    def _name_rows(self) -> None:
        """Name the heatmaps' rows on the left axis, as many as the plot's height holds
        without overlap (the query row, or the last support image, is always named)."""
        labels = self._row_labels
        if self._write_plot is None or not labels:
            return
        height = self._write_plot.vb.height()
        fit = max(2, int(height // ROW_LABEL_PX)) if height > 0 else MAX_ROW_LABELS
        every = max(1, -(-len(labels) // fit))
        last = len(labels) - 1
        ticks = [(i + 0.5, n) for i, n in enumerate(labels) if i % every == 0 or i == last]
        if len(ticks) > 1 and ticks[-1][0] - ticks[-2][0] < every:  # no two names too close
            del ticks[-2]
        self._write_plot.getAxis("left").setTicks([ticks])

    def _show_similarity(self, view: SimilarityView) -> None:
        n = len(view.labels)
        sims = np.zeros(n) if view.similarity is None else view.similarity[0]
        brushes = [pg.mkBrush(class_colour(int(c))) for c in view.labels]
        self._bars.setOpts(x=np.arange(n), height=sims, brushes=brushes or None)
        centres = {}
        for i, c in enumerate(view.labels):
            centres.setdefault(int(c), []).append(i)
        chars = max(3, int(self._bar_plot.vb.width() / max(len(centres), 1) / 7.5))
        ticks = [
            (float(np.mean(idx)), short(view.names[c], chars)) for c, idx in sorted(centres.items())
        ]
        self._bar_plot.getAxis("bottom").setTicks([ticks])
        self._bar_plot.setXRange(-0.6, max(n, 2) - 0.4, padding=0)


def short(name: str, limit: int) -> str:
    """``name`` cut to ``limit`` characters (an ellipsis marks the cut)."""
    return name if len(name) <= limit else name[: limit - 1] + "…"
