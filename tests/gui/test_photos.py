"""A photo checkpoint (RGB) in the window: colour photos and drawings both become its input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gui_helpers import draw, drop_files, line, make_window
from PIL import Image

from core.algorithms import build_learner
from core.checkpoint import save_checkpoint
from core.data.spec import PreprocessSpec

RGB = PreprocessSpec("rgb", 32)
COLOURS = {"red": (220, 30, 30), "green": (30, 160, 40), "blue": (40, 60, 220)}


@pytest.fixture
def photo_window(qtbot, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "protonet-rgb.pt"
    learner = build_learner("protonet", {"in_channels": 3, "input_size": 32, "hidden": 8})
    save_checkpoint(path, learner, {"preprocess": RGB.to_dict()})
    window = make_window(qtbot, path)
    yield window
    window.close()


def photo(path, colour, size=(60, 40)):
    img = Image.new("RGB", size, (240, 240, 240))
    img.paste(colour, (10, 10, size[0] - 10, size[1] - 10))
    img.save(path)
    return path


def test_photos_and_drawings_feed_an_rgb_checkpoint(qtbot, photo_window, tmp_path):
    window = photo_window
    assert window.checkpoint.preprocess == RGB
    for i, (name, colour) in enumerate(COLOURS.items()):
        files = [photo(tmp_path / f"{name}{k}.jpg", colour) for k in range(2)]
        with qtbot.waitSignal(window.background.files_thread.finished_job, timeout=10_000):
            drop_files(window.teach.panel.rows[i], files)
    first = window.session.classes[0].examples[0]
    assert first.image.shape == (3, 32, 32) and first.picture is not None
    # the thumbnail shows the photo in colour, not a grayscale model input
    icon = window.teach.panel.rows[0].examples.item(0).icon().pixmap(52, 52).toImage()
    pixel = icon.pixelColor(icon.width() // 2, icon.height() // 2)
    assert pixel.red() > 150 and pixel.green() < 100 and pixel.blue() < 100
    # a drawing added to a class becomes a 3-channel input too
    draw(qtbot, window.teach.canvas, line((0.2, 0.5), (0.8, 0.5)))
    window.teach.add_drawing(2)
    assert window.session.classes[2].examples[-1].image.shape == (3, 32, 32)
    # a grayscale photo as the query is classified (converted to RGB by the spec)
    gray = tmp_path / "query.png"
    Image.fromarray(np.full((30, 50), 90, np.uint8), mode="L").save(gray)
    version = window.teaching.query().version
    with qtbot.waitSignal(window.background.files_thread.finished_job, timeout=10_000):
        drop_files(window.query.canvas, [gray])
    assert window.teaching.query().version > version
    qtbot.waitUntil(
        lambda: window.results.shown_query_version == window.teaching.query().version,
        timeout=20_000,
    )
    assert (
        window.results.bars.probs.shape == (3,) and abs(window.results.bars.probs.sum() - 1) < 1e-4
    )
    assert window.banner.level != "error", window.banner.text()


def test_a_photo_becomes_a_drawing_for_an_ink_checkpoint(tmp_path):
    """The reverse: a colour photo's ink map for a drawing checkpoint, through the same spec."""
    from metagui.app.compute import load_files
    from metagui.ui.widgets.images import example_qimage

    path = tmp_path / "bar.png"
    img = Image.new("RGB", (80, 80), "white")
    img.paste((200, 20, 20), (30, 10, 50, 70))
    img.save(path)
    (result,) = next(load_files([path], PreprocessSpec("ink", 28)))
    assert result.error is None and result.example.image.shape == (1, 28, 28)
    assert result.example.image.max() == 1.0  # the red bar is the ink
    assert example_qimage(result.example).isGrayscale()  # shown as the model sees it
    assert result.example.input(RGB).shape == (3, 32, 32)  # the kept picture serves other specs
