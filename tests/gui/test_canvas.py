"""Drawing with simulated mouse (and tablet) events: stored strokes and the rendered example."""

from __future__ import annotations

import torch
from gui_helpers import draw, line
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication

from core.data.preprocess import preprocess_image, rasterize_strokes
from core.data.spec import PreprocessSpec
from metagui.ui.widgets.canvas import DrawingCanvas


def make_canvas(qtbot) -> DrawingCanvas:
    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(300, 300)
    canvas.show()
    qtbot.waitExposed(canvas)
    return canvas


def test_mouse_strokes_are_stored_in_the_unit_square(qtbot):
    canvas = make_canvas(qtbot)
    with qtbot.waitSignal(canvas.strokeFinished):
        draw(qtbot, canvas, line((0.2, 0.5), (0.8, 0.5)))
    draw(qtbot, canvas, line((0.5, 0.2), (0.5, 0.8)))
    strokes = canvas.strokes()
    assert len(strokes) == 2
    xs = [p[0] for p in strokes[0]]
    assert abs(xs[0] - 0.2) < 0.02 and abs(xs[-1] - 0.8) < 0.02
    assert all(abs(p[1] - 0.5) < 0.02 for p in strokes[0])
    assert xs == sorted(xs)
    canvas.undo()
    assert canvas.strokes() == strokes[:1]
    canvas.clear()
    assert canvas.is_empty()


def test_rendered_example_is_core_preprocessing_of_the_strokes(qtbot):
    canvas = make_canvas(qtbot)
    draw(qtbot, canvas, line((0.1, 0.1), (0.4, 0.4)))  # small and off-centre
    drawing = canvas.drawing()
    image = drawing.preprocess(PreprocessSpec("ink", 28))
    expected = preprocess_image(rasterize_strokes(drawing.strokes, drawing.width, 1.0), 28)
    assert torch.equal(image, expected)
    assert image.shape == (1, 28, 28) and float(image.max()) == 1.0
    # centred by the preprocessing: ink mass in the middle, nothing at the borders
    ys, xs = torch.nonzero(image[0] > 0.5, as_tuple=True)
    assert abs(float(ys.float().mean()) - 13.5) < 2 and abs(float(xs.float().mean()) - 13.5) < 2
    assert float(image[0, :2].sum() + image[0, -2:].sum()) == 0.0
    # a diagonal from top-left to bottom-right stays one
    assert image[0, 6, 6] > 0.5 and image[0, 21, 21] > 0.5 and image[0, 6, 21] == 0


def test_pen_width_changes_the_ink(qtbot):
    canvas = make_canvas(qtbot)
    draw(qtbot, canvas, line((0.2, 0.5), (0.8, 0.5)))
    thin = canvas.drawing().preprocess().sum()
    canvas.set_pen_width(12 / 105)
    assert canvas.drawing().preprocess().sum() > 1.5 * thin


def test_tablet_pen_draws_and_is_not_doubled_by_mouse_events(qtbot):
    canvas = make_canvas(qtbot)
    sq = canvas.square()
    device = QPointingDevice.primaryPointingDevice()

    def send(kind, x, pressure):
        pos = QPointF(sq.left() + x * sq.width(), sq.top() + 0.5 * sq.height())
        event = QTabletEvent(
            kind,
            device,
            pos,
            canvas.mapToGlobal(pos),
            pressure,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            Qt.KeyboardModifier.NoModifier,
            Qt.MouseButton.LeftButton,
            Qt.MouseButton.LeftButton,
        )
        QApplication.sendEvent(canvas, event)

    send(QEvent.Type.TabletPress, 0.2, 0.5)
    for x in (0.3, 0.4, 0.5):
        send(QEvent.Type.TabletMove, x, 0.5)
    send(QEvent.Type.TabletRelease, 0.6, 0.0)
    strokes = canvas.strokes()
    assert len(strokes) == 1
    assert abs(strokes[0][0][0] - 0.2) < 0.02 and abs(strokes[0][-1][0] - 0.6) < 0.02
