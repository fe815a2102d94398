"""How an image becomes the model's input: the preprocessing spec recorded in every checkpoint.

Two kinds, built with torchvision transforms v2:

* ``ink``: drawings (Omniglot). Grayscale, ink = 1, the ink's bounding box centred and scaled
  (``core.data.preprocess.preprocess_image``), one channel. A colour photo gives its luminance.
* ``rgb``: photos. RGB resized to ``size x size`` (aspect ratio not kept), then
  ``(x / 255 - mean) / std`` per channel (default: the ImageNet mean and std). A grayscale or
  palette file is converted to RGB; transparency is composited onto white.

Every path (training, evaluation, prediction, the window's drawings and drops) goes through one
spec: ``decode`` gives the stored uint8 form (caches, DataLoader workers), ``normalize`` the float
model input, and ``image``/``file`` both at once.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from core.data.preprocess import (
    DEFAULT_SIZE,
    PREPROCESS_VERSION,
    _to_gray,
    load_image,
    preprocess_image,
)

KINDS = ("ink", "rgb")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Smallest and largest accepted model input side.
MIN_SIZE, MAX_SIZE = 8, 1024


class InkNormalize(v2.Transform):
    """v2 transform step: a PIL image -> uint8 tensor ``(1, size, size)``, ink = 255.

    The ink normalisation of ``preprocess_image`` (centred, scaled, ink = 1) quantised to bytes
    exactly as the Omniglot cache stores it. Tensors pass through untouched.
    """

    _transformed_types = (Image.Image,)

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def transform(self, inpt: Any, params: dict[str, Any]) -> torch.Tensor:
        ink = preprocess_image(inpt, self.size)
        return torch.from_numpy(np.round(ink.numpy() * 255.0).astype(np.uint8))


class ToRGB(v2.Transform):
    """v2 transform step: any PIL image -> RGB PIL image.

    Alpha (RGBA, LA, palette transparency) is composited onto white; 16-bit and float modes are
    scaled to 8-bit gray first; everything else goes through ``v2.RGB``.
    """

    _transformed_types = (Image.Image,)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Image.Image:
        img: Image.Image = inpt
        if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            img = Image.fromarray(np.round(_to_gray(img) * 255.0).astype(np.uint8), mode="L")
        elif img.mode in ("RGBA", "LA", "PA", "P") or "transparency" in img.info:
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba).convert("RGB")
        return v2.RGB()(img)


def _floats(value: Any, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"preprocess {what} must be a list of numbers, not {value!r}") from None


@dataclass(frozen=True)
class PreprocessSpec:
    """The preprocessing of a model's input; frozen, compared and hashed by value.

    ``kind``: ``"ink"`` or ``"rgb"``; ``size``: side of the square input in pixels;
    ``mean``/``std``: per-channel normalisation (rgb only; empty means ImageNet's).
    """

    kind: str
    size: int = DEFAULT_SIZE
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown preprocess kind {self.kind!r}; choose ink or rgb")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise ValueError(f"preprocess size must be an integer, not {self.size!r}")
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"preprocess size {self.size} is outside {MIN_SIZE}..{MAX_SIZE}")
        mean, std = _floats(self.mean, "mean"), _floats(self.std, "std")
        if self.kind == "ink":
            if mean or std:
                raise ValueError("an ink preprocess has no mean/std (ink is scaled to 0..1)")
        else:
            mean, std = mean or IMAGENET_MEAN, std or IMAGENET_STD
            if len(mean) != 3 or len(std) != 3:
                raise ValueError("an rgb preprocess needs 3 mean and 3 std values")
            if not all(s > 0 for s in std) or not all(np.isfinite(mean + std)):
                raise ValueError("rgb preprocess std must be positive and mean/std finite")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @property
    def channels(self) -> int:
        """1 for ink, 3 for rgb."""
        return 1 if self.kind == "ink" else 3

    # -- serialisation ------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-ready form, stored in checkpoints under ``metadata["preprocess"]``."""
        return {
            "kind": self.kind,
            "size": self.size,
            "mean": list(self.mean),
            "std": list(self.std),
            "version": PREPROCESS_VERSION,
        }

    @classmethod
    def from_dict(cls, d: Any) -> PreprocessSpec:
        """Inverse of ``to_dict``; ValueError with a one-line reason on a bad dict."""
        if not isinstance(d, dict):
            raise ValueError(f"preprocess spec must be a dict, not {type(d).__name__}")
        unknown = set(d) - {"kind", "size", "mean", "std", "version"}
        if unknown:
            raise ValueError(f"preprocess spec has unknown keys: {', '.join(sorted(unknown))}")
        if "kind" not in d or "size" not in d:
            raise ValueError("preprocess spec needs 'kind' and 'size'")
        version = d.get("version", PREPROCESS_VERSION)
        if version != PREPROCESS_VERSION:
            raise ValueError(
                f"preprocess version {version!r} is not {PREPROCESS_VERSION}; "
                "this checkpoint needs another metagui version"
            )
        return cls(d["kind"], d["size"], tuple(d.get("mean", ())), tuple(d.get("std", ())))

    @classmethod
    def from_metadata(cls, metadata: dict) -> PreprocessSpec:
        """The spec of a checkpoint's metadata; old checkpoints (no ``"preprocess"``) are ink."""
        if not isinstance(metadata, dict):
            raise ValueError("checkpoint metadata must be a dict")
        if "preprocess" in metadata:
            return cls.from_dict(metadata["preprocess"])
        version = metadata.get("preprocess_version")
        if version is None:
            raise ValueError("checkpoint metadata records no preprocessing")
        if version != PREPROCESS_VERSION:
            raise ValueError(
                f"checkpoint preprocess_version {version!r} is not {PREPROCESS_VERSION}; "
                "this checkpoint needs another metagui version"
            )
        return cls("ink", metadata.get("input_size", DEFAULT_SIZE))

    # -- transforms ---------------------------------------------------------------------------

    @functools.cached_property
    def _decoder(self) -> v2.Compose:
        if self.kind == "ink":
            return v2.Compose([InkNormalize(self.size)])
        return v2.Compose(
            [
                ToRGB(),
                v2.Resize((self.size, self.size), antialias=True),
                v2.PILToTensor(),
            ]
        )

    @functools.cached_property
    def _normalizer(self) -> v2.Compose:
        return v2.Compose(
            [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(self.mean), list(self.std))]
        )

    def decode(self, img: Image.Image) -> torch.Tensor:
        """The stored form of a PIL image: uint8 tensor ``(channels, size, size)``."""
        return self._decoder(img).contiguous()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 ``(..., C, S, S)`` -> float32 of the same shape (the model input).

        ink: ``x / 255`` (ink = 1); rgb: ``(x / 255 - mean) / std`` per channel.
        """
        if x.dtype != torch.uint8:
            raise ValueError(f"normalize expects uint8 images, not {x.dtype}")
        if self.kind == "ink":
            return x.float().div_(255.0)
        return self._normalizer(x)

    def image(self, img: Image.Image) -> torch.Tensor:
        """Model input float32 ``(channels, size, size)`` of a PIL image (drawings, drops).

        ink: exactly ``preprocess_image(img, size)``, not quantised to bytes.
        """
        if self.kind == "ink":
            return preprocess_image(img, self.size)
        return self.normalize(self.decode(img))

    def file(self, path: str | os.PathLike) -> torch.Tensor:
        """Model input float32 ``(channels, size, size)`` of an image file; ImageError names it."""
        return self.image(load_image(path))

    def __getstate__(self) -> dict:  # the cached transforms are rebuilt, not pickled
        return {k: getattr(self, k) for k in ("kind", "size", "mean", "std")}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)


INK_28 = PreprocessSpec("ink", DEFAULT_SIZE)
