"""A square drawing canvas that stores pen strokes (mouse or tablet) and accepts dropped files.

Strokes are kept in a unit square (see ``metagui.app.session.Drawing``); the model's raster is
made from them by core's ``rasterize_strokes`` + ``preprocess_image``, never from the screen.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from metagui.app.session import Drawing, Point, Stroke


def dropped_paths(mime) -> list[Path]:
    """Local files named by a drag-and-drop payload."""
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]


class FileDropTarget:
    """Mixin for a QWidget with a ``filesDropped(list[Path])`` signal: accepts dropped files."""

    def dragEnterEvent(self, event) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.filesDropped.emit(paths)


class DrawingCanvas(FileDropTarget, QWidget):
    """Draw with the mouse or a tablet pen; ``strokeFinished`` on pen-up."""

    strokeMoved = Signal()  # the stroke being drawn grew (for live, debounced updates)
    strokeFinished = Signal()  # pen-up: a stroke was added
    edited = Signal()  # strokes changed other than by drawing: undone, cleared, replaced
    filesDropped = Signal(list)  # list[Path]

    #: Pen width as a fraction of the canvas side: 5 px of a 105 px canvas. After preprocessing,
    #: a character drawn across most of the canvas then has Omniglot's stroke width (checked by
    #: eye on preprocessed Omniglot images and drawings side by side).
    DEFAULT_WIDTH = 5.0 / 105.0

    def __init__(self, hint: str = "Draw here", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._strokes: list[Stroke] = []
        self._current: list[Point] | None = None
        self._pen_width = self.DEFAULT_WIDTH
        self._hint = hint
        self._image: QImage | None = None
        self._ink = QColor("#111111")
        self.setAcceptDrops(True)
        self.setMinimumSize(220, 220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_TabletTracking, False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # -- state -------------------------------------------------------------------------------
    def drawing(self) -> Drawing:
        return Drawing(tuple(self._strokes), self._pen_width)

    def strokes(self) -> tuple[Stroke, ...]:
        return tuple(self._strokes)

    def is_empty(self) -> bool:
        return not self._strokes and self._image is None

    def pen_width(self) -> float:
        return self._pen_width

    def set_pen_width(self, width: float) -> None:
        """Width for the next strokes, as a fraction of the side (one width per drawing)."""
        self._pen_width = float(width)
        self.update()

    def set_drawing(self, drawing: Drawing) -> None:
        self._strokes = [tuple(s) for s in drawing.strokes]
        self._pen_width = drawing.width
        self._image = None
        self.update()
        self.edited.emit()

    def set_image(self, image: QImage | None) -> None:
        """Show an image (a dropped file) instead of strokes; drawing again replaces it."""
        self._image = image
        self._strokes = []
        self.update()

    def undo(self) -> None:
        if self._strokes:
            self._strokes.pop()
            self.update()
            self.edited.emit()

    def clear(self) -> None:
        had = bool(self._strokes) or self._image is not None
        self._strokes, self._current, self._image = [], None, None
        self.update()
        if had:
            self.edited.emit()

    # -- geometry ----------------------------------------------------------------------------
    def square(self) -> QRectF:
        side = min(self.width(), self.height()) - 2
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def _to_unit(self, pos: QPointF) -> Point:
        sq = self.square()
        x = (pos.x() - sq.left()) / sq.width()
        y = (pos.y() - sq.top()) / sq.height()
        return (min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0))

    # -- input -------------------------------------------------------------------------------
    def _begin(self, pos: QPointF) -> None:
        if self._image is not None:
            self._image = None
        self._current = [self._to_unit(pos)]
        self.update()

    def _extend(self, pos: QPointF) -> None:
        if self._current is None:
            return
        point = self._to_unit(pos)
        if point != self._current[-1]:
            self._current.append(point)
            self.update()
            self.strokeMoved.emit()

    def _end(self, pos: QPointF) -> None:
        if self._current is None:
            return
        self._extend(pos)
        self._strokes.append(tuple(self._current))
        self._current = None
        self.update()
        self.strokeFinished.emit()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(event.position())
        elif event.button() == Qt.MouseButton.RightButton:
            self.undo()

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._extend(event.position())

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._end(event.position())

    def tabletEvent(self, event) -> None:
        kind = event.type()
        if kind == QEvent.Type.TabletPress:
            self._begin(event.position())
        elif kind == QEvent.Type.TabletMove:
            if event.pressure() > 0 or event.buttons():
                self._extend(event.position())
        elif kind == QEvent.Type.TabletRelease:
            self._end(event.position())
        event.accept()  # no synthesised mouse events

    # -- painting ----------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        sq = self.square()
        painter.fillRect(self.rect(), self.palette().window())
        painter.fillRect(sq, QColor("white"))
        painter.setPen(QPen(QColor("#9aa5b1"), 1.5))
        painter.drawRect(sq)
        if self._image is not None:
            img = self._image.scaled(
                sq.size().toSize(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            painter.drawImage(
                QPointF(
                    sq.left() + (sq.width() - img.width()) / 2,
                    sq.top() + (sq.height() - img.height()) / 2,
                ),
                img,
            )
        strokes = list(self._strokes)
        if self._current is not None:
            strokes.append(tuple(self._current))
        if not strokes and self._image is None:
            painter.setPen(QColor("#b0b8c1"))
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.3)
            painter.setFont(font)
            painter.drawText(sq, Qt.AlignmentFlag.AlignCenter, self._hint)
        pen = QPen(self._ink, max(1.0, self._pen_width * sq.width()))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        for stroke in strokes:
            pts = [
                QPointF(sq.left() + x * sq.width(), sq.top() + y * sq.height()) for x, y in stroke
            ]
            if len(pts) == 1:
                painter.drawPoint(pts[0])
                continue
            path = QPainterPath(pts[0])
            for p in pts[1:]:
                path.lineTo(p)
            painter.drawPath(path)
        painter.end()
