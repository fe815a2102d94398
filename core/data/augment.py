"""Training-time augmentation of episode images (never applied at evaluation).

``affine``: a random rotation, translation, scale and shear per image (Koch et al.'s affine
distortions), applied with ``torchvision.transforms.v2.functional.affine``; the parameters come
from an explicit ``torch.Generator``, so a run's augmentations depend on its seed only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
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


#: ``core.train --augment`` choices.
AUGMENTATIONS: dict[str, Affine | None] = {"none": None, "affine": Affine()}


def augment_episode(ep: Episode, kind: str, generator: torch.Generator) -> Episode:
    """``ep`` with its support and query images augmented by ``AUGMENTATIONS[kind]``."""
    transform = AUGMENTATIONS[kind]
    if transform is None:
        return ep
    return Episode(transform(ep.support, generator), ep.support_labels,
                   transform(ep.query, generator), ep.query_labels, ep.class_names)  # fmt: skip
