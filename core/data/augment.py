"""Training-time augmentation of episode images (never applied at evaluation).

``affine``: a random rotation, translation, scale and shear per image (Koch et al.'s affine
distortions), applied with ``torchvision.transforms.v2.functional.affine``; the parameters come
from an explicit ``torch.Generator``, so a run's augmentations depend on its seed only.
``drawing``: for pen drawings (ink images): stroke width, a small affine and an elastic
distortion per image, from the same kind of generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from core.data.episodes import Episode


@dataclass(frozen=True)
class Affine:
    """Uniform ranges: rotation +-``degrees``, shift +-``translate`` of the side, scale in
    ``[1 - scale, 1 + scale]``, shear +-``shear`` degrees. Uncovered pixels become 0 (no ink;
    the mean colour of a normalised photo)."""

    degrees: float = 10.0
    translate: float = 0.1
    scale: float = 0.15
    shear: float = 10.0

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``images`` ``(n, C, S, S)`` -> the same shape, each image distorted differently."""
        n, side = len(images), images.shape[-1]
        u = torch.rand(n, 5, generator=generator).mul_(2).sub_(1).tolist()  # in [-1, 1)
        return torch.stack([
            TF.affine(
                img,
                angle=a * self.degrees,
                translate=[tx * self.translate * side, ty * self.translate * side],
                scale=1.0 + s * self.scale,
                shear=[sh * self.shear, 0.0],
                interpolation=InterpolationMode.BILINEAR,
            )
            for img, (a, tx, ty, s, sh) in zip(images, u, strict=True)
        ])  # fmt: skip


@dataclass(frozen=True)
class Drawing:
    """Pen drawings (ink images, ink = 1): per image a stroke width change (thicker: blended
    towards a 3 x 3 dilation by up to ``width``; thinner: soft edges faded by a power up to
    ``1 + 2 width``), a small affine distortion (rotation
    +-``degrees``, shift +-``translate`` of the side, scale ``1 +- scale``, shear +-``shear``
    degrees) and an elastic one (a smooth random displacement field of ``elastic`` pixels at
    28 px, ``grid`` x ``grid`` control points, bicubic). One ``grid_sample`` does both
    distortions; uncovered pixels are 0 (no ink); the darkest ink is 1 again afterwards."""

    width: float = 0.5
    degrees: float = 6.0
    translate: float = 0.06
    scale: float = 0.1
    shear: float = 8.0
    elastic: float = 1.0
    grid: int = 4

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``images`` ``(n, C, S, S)`` float -> the same shape, each image distorted differently."""
        n, side = len(images), images.shape[-1]
        if n == 0:
            return images
        x = images.float()
        u = torch.rand(n, 6, generator=generator).mul_(2).sub_(1)  # in [-1, 1)
        noise = torch.randn(n, 2, self.grid, self.grid, generator=generator)
        t = (u[:, 5] * self.width).view(n, 1, 1, 1)
        thicker = x + t.clamp(min=0) * (F.max_pool2d(x, 3, 1, 1) - x)
        thinner = x.pow(1.0 + 2.0 * (-t).clamp(min=0))  # soft stroke edges fade, cores stay
        x = torch.where(t >= 0, thicker, thinner)
        a = u[:, 0] * math.radians(self.degrees)
        sh = u[:, 4] * math.radians(self.shear)
        s = 1.0 + u[:, 3] * self.scale
        cos, sin = torch.cos(a) / s, torch.sin(a) / s  # output -> input: the inverse map
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + torch.tan(sh) * cos
        theta[:, 1, 0], theta[:, 1, 1] = sin, cos + torch.tan(sh) * sin
        theta[:, 0, 2], theta[:, 1, 2] = u[:, 1] * 2 * self.translate, u[:, 2] * 2 * self.translate
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        field = F.interpolate(noise, size=(side, side), mode="bicubic", align_corners=True)
        grid = grid + field.permute(0, 2, 3, 1) * (2.0 * self.elastic / 28.0)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        peak = out.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6)
        out = torch.where(peak > 0.05, out / peak, out)  # darkest ink 1, as preprocessing
        return out.clamp_(0.0, 1.0).to(images.dtype)


#: ``core.train --augment`` choices.
AUGMENTATIONS: dict[str, Affine | Drawing | None] = {
    "none": None,
    "affine": Affine(),
    "drawing": Drawing(),
}


def augment_episode(ep: Episode, kind: str, generator: torch.Generator) -> Episode:
    """``ep`` with its support and query images augmented by ``AUGMENTATIONS[kind]``."""
    transform = AUGMENTATIONS[kind]
    if transform is None:
        return ep
    return Episode(transform(ep.support, generator), ep.support_labels,
                   transform(ep.query, generator), ep.query_labels, ep.class_names)  # fmt: skip
