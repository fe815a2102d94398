"""The one preprocessing function: every image mode, both polarities, bad files, strokes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core.data import preprocess
from core.data.preprocess import (
    ImageError,
    load_image,
    preprocess_file,
    preprocess_image,
    rasterize_strokes,
)


def _dark_on_light(size: int = 105) -> Image.Image:
    img = Image.new("L", (size, size), 255)
    ImageDraw.Draw(img).line([(20, 30), (80, 70)], fill=0, width=max(3, size // 30))
    return img


def _as_mode(img: Image.Image, mode: str) -> Image.Image:
    """``img`` (L, dark ink on white) converted to ``mode`` with the same picture."""
    if mode == "I;16":
        return Image.fromarray((np.asarray(img, dtype=np.uint16) * 257).astype(np.uint16))
    if mode == "RGBA":  # ink strokes on a transparent layer
        rgba = Image.new("RGBA", img.size, (0, 0, 0, 0))
        rgba.putalpha(Image.eval(img, lambda v: 255 - v))
        return rgba
    if mode == "LA":
        return img.convert("LA")
    if mode == "P":
        return img.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    return img.convert(mode)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "I;16", "I", "F"])
def test_every_mode_maps_to_the_same_input(mode):
    reference = preprocess_image(_dark_on_light())
    out = preprocess_image(_as_mode(_dark_on_light(), mode))
    assert out.shape == (1, 28, 28) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() == pytest.approx(1.0)
    assert torch.allclose(out, reference, atol=0.15), f"mode {mode} differs"


def test_light_on_dark_equals_dark_on_light():
    dark = _dark_on_light()
    light = Image.eval(dark, lambda v: 255 - v)
    assert torch.allclose(preprocess_image(dark), preprocess_image(light), atol=1e-6)


def test_ink_is_centred_and_scaled_whatever_the_position_and_size():
    small = Image.new("L", (400, 300), 255)
    ImageDraw.Draw(small).line([(10, 10), (40, 30)], fill=0, width=3)  # tiny, in a corner
    out = preprocess_image(small)[0]
    ys, xs = torch.nonzero(out > 0.25, as_tuple=True)
    assert abs(float(xs.float().mean()) - 13.5) < 2.5 and abs(float(ys.float().mean()) - 13.5) < 2.5
    assert int(xs.max() - xs.min()) >= 18  # fills ~80 % of the 28-pixel side


def test_blank_image_gives_zeros():
    assert preprocess_image(Image.new("RGB", (50, 80), "white")).abs().sum() == 0


def test_corrupt_and_non_image_files_name_the_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    broken = tmp_path / "broken.png"
    good = tmp_path / "good.png"
    _dark_on_light().save(good)
    broken.write_bytes(good.read_bytes()[:60])
    for path in (text, broken, tmp_path / "missing.png", tmp_path):
        with pytest.raises(ImageError, match=path.name):
            preprocess_file(path)
    assert preprocess_file(good).shape == (1, 28, 28)


def test_huge_image_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (300, 300), 255).save(path)
    monkeypatch.setattr(preprocess, "MAX_PIXELS", 300 * 300 - 1)
    with pytest.raises(ImageError, match="too large"):
        load_image(path)


def test_rasterized_strokes_look_like_the_same_drawing_on_paper():
    strokes = [[(20.0, 30.0), (80.0, 70.0)]]
    drawn = rasterize_strokes(strokes, width=3.0, extent=105.0)
    assert drawn.size == (105, 105) and drawn.mode == "L"
    assert drawn.getpixel((50, 50)) == 0 and drawn.getpixel((5, 100)) == 255
    # same strokes in a 2x larger drawing area with 2x pen: the same picture
    big = rasterize_strokes([[(40.0, 60.0), (160.0, 140.0)]], width=6.0, extent=210.0)
    assert torch.allclose(preprocess_image(drawn), preprocess_image(big), atol=1e-6)
    # and the same line drawn on paper (square caps there, round here): nearly the same input
    diff = (preprocess_image(drawn) - preprocess_image(_dark_on_light())).abs()
    assert float(diff.mean()) < 0.03


def test_a_single_tap_is_a_dot():
    dot = rasterize_strokes([[(50.0, 50.0)]], width=6.0, extent=100.0)
    assert np.asarray(dot).min() == 0
