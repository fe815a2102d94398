"""The live embedding map: where a metric learner puts the support examples, their class centres
and the query, projected to 2-D (PCA of the support embeddings, see core.embedding_map)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor

from metagui.app.records import MapUpdate
from metagui.ui.widgets.images import class_colour


class EmbeddingPlot(pg.PlotWidget):
    """Support examples as dots and class centres as stars, coloured by class; the query as a
    black cross, joined to the centre of the predicted class. Axes are hidden: PCA coordinates
    have no units, only distances matter (the aspect ratio is locked so they are honest)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("embeddingMap")
        self.setAccessibleName("Embedding map of the support examples, class centres and query")
        self.setToolTip(
            "Where the model places each example: dots are your examples, stars the class "
            "centres, the cross is the query, joined to the predicted class (no line: “none "
            "of these”). Metric learners pick the class whose examples the query lies closest "
            "to in their full embedding space; this is its 2-D PCA projection, so a cross can "
            "look nearer to another star than to the one it is joined to (the caption says so). "
            "Names that would overlap are left out (the predicted class's first): hover a star "
            "to read its name."
        )
        self._base_title = "Embedding map"
        self._title = ""
        self._set_title("Embedding map")
        self.setMenuEnabled(False)
        plot = self.getPlotItem()
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        self.setAspectLocked(True)
        self._link = pg.PlotDataItem(
            [], [], pen=pg.mkPen("#555555", width=1.5, style=Qt.PenStyle.DashLine)
        )
        self._support = pg.ScatterPlotItem(size=10, pen=pg.mkPen("#ffffff", width=1))
        self._centres = pg.ScatterPlotItem(
            size=22, symbol="star", pen=pg.mkPen("#111111"), hoverable=True, tip=_name_tip
        )
        self._query = pg.ScatterPlotItem(size=18, symbol="x", brush="#111111", pen=None)
        for z, item in enumerate((self._link, self._centres, self._support, self._query)):
            item.setZValue(z)
            self.addItem(item)
        self._names: list[pg.TextItem] = []
        self._note = pg.TextItem("", anchor=(0.5, 0.5), color="#555555")
        self._note.setZValue(10)
        self.addItem(self._note, ignoreBounds=True)
        self.current: MapUpdate | None = None
        self.winner: int | None = None
        self.getPlotItem().vb.sigRangeChanged.connect(self._place_names)
        self.getPlotItem().vb.sigResized.connect(self._place_names)

    def show_message(self, text: str) -> None:
        """No map (e.g. a gradient learner, or too few examples): say why instead."""
        self.current, self.winner = None, None
        for item in (self._support, self._centres, self._query):
            item.setData([], [])
        self._link.setData([], [])
        for label in self._names:
            label.setVisible(False)
        self._base_title = "Embedding map"
        self._set_title(self._base_title)
        self.setXRange(-1, 1, padding=0)
        self.setYRange(-1, 1, padding=0)
        self._note.setPos(0, 0)
        self._wrap_note()
        self._note.setText(text)

    def show_map(self, found: MapUpdate, winner: int | None = None) -> None:
        """Draw ``found``; ``winner``: the predicted class of the (first) query, if known."""
        same_support = (
            self.current is not None
            and self.current.names == found.names
            and np.array_equal(self.current.support, found.support)
        )
        self.current, self.winner = found, winner
        if same_support:  # only the query moved: leave the rest (and the view) alone
            self._show_query(found, winner)
            vb = self.getPlotItem().vb
            if found.query is not None and not all(
                vb.viewRect().contains(float(x), float(y)) for x, y in found.query
            ):
                self.getPlotItem().autoRange(padding=0.15)
            return
        self._note.setText("")
        n_way = len(found.centres)
        colours = [class_colour(i) for i in range(n_way)]
        self._support.setData(
            pos=found.support, brush=[pg.mkBrush(colours[int(c)]) for c in found.labels]
        )
        see_through = [QColor(c.red(), c.green(), c.blue(), 110) for c in colours]
        names = [found.names[i] if i < len(found.names) else str(i) for i in range(n_way)]
        self._centres.setData(
            pos=found.centres, brush=[pg.mkBrush(c) for c in see_through], data=names
        )
        while len(self._names) < n_way:
            # above the dots, on a light backing so that a name over a cluster stays readable
            label = pg.TextItem("", anchor=(0.5, 1.3), fill=pg.mkBrush(255, 255, 255, 170))
            label.setZValue(5)
            self.addItem(label, ignoreBounds=True)
            self._names.append(label)
        for i, label in enumerate(self._names):
            label.setVisible(i < n_way)
            if i < n_way:
                label.setColor(colours[i].darker(130))
                label.setText(names[i])
                label.setPos(*found.centres[i])
        self.getPlotItem().autoRange(padding=0.15)
        share = float(found.explained.sum())
        self._base_title = f"Embedding map ({share:.0%} of the spread in 2-D)"  # fits 1,260 px
        self._show_query(found, winner)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if getattr(self, "_note", None) is not None and self._note.toPlainText():
            self._wrap_note()

    def _wrap_note(self) -> None:
        self._note.setTextWidth(max(200, int(self.width() * 0.85)))  # long reasons wrap

    def _set_title(self, text: str) -> None:
        if text != self._title:  # a title change relayouts the plot: only when it changes
            self._title = text
            self.setTitle(text, size="11pt")

    def _show_query(self, found: MapUpdate, winner: int | None) -> None:
        query = found.query if found.query is not None else np.zeros((0, 2))
        self._query.setData(pos=query)
        if len(query) and winner is not None and 0 <= winner < len(found.centres):
            link = np.stack([query[0], found.centres[winner]])
            self._link.setData(link[:, 0], link[:, 1])
        else:
            self._link.setData([], [])
        self._set_title(self._base_title + disagreement(found, winner))
        self._place_names()

    def _place_names(self, *_) -> None:
        """Show the class names that fit without overlapping, the predicted class's first, then
        in class order; the others stay readable by hovering their star."""
        if self.current is None:
            return
        vb = self.getPlotItem().vb
        n_way = len(self.current.centres)
        order = list(range(n_way))
        if self.winner is not None and 0 <= self.winner < n_way:
            order.insert(0, order.pop(self.winner))
        taken: list[QRectF] = []
        for i in order:
            label = self._names[i]
            x, y = self.current.centres[i]
            at = vb.mapViewToScene(QPointF(float(x), float(y)))
            size = label.textItem.boundingRect()
            ax, ay = label.anchor.x(), label.anchor.y()
            box = QRectF(
                at.x() - ax * size.width(), at.y() - ay * size.height(), size.width(), size.height()
            ).adjusted(-2, -1, 2, 1)
            fits = not any(box.intersects(other) for other in taken)
            label.setVisible(fits)
            if fits:
                taken.append(box)


def _name_tip(x: float, y: float, data: object) -> str:
    return str(data)


def disagreement(found: MapUpdate, winner: int | None) -> str:
    """A caption line when the query's nearest centre in the 2-D view is not the predicted
    class (the prediction uses the full embedding; the view is a projection), else ""."""
    if found.query is None or not len(found.query) or winner is None:
        return ""
    if not 0 <= winner < len(found.centres) or winner >= len(found.names):
        return ""
    near = int(np.linalg.norm(found.centres - found.query[0], axis=1).argmin())
    if near == winner:
        return ""
    dims = found.projection.axes.shape[1] if found.projection is not None else None
    space = f"all {dims} dims" if dims else "the full embedding"
    return (
        f"<br><span style='font-size:9pt'>In 2-D it looks nearest to {found.names[near]}; "
        f"the prediction ({found.names[winner]}) uses {space}</span>"
    )
