"""Test-time augmentation: a fixed set of small, deterministic views of each image.

At evaluation (``core.evaluate --tta shift``) every support image also enters the support set
as each of its views (more shots of the same class, so any learner can use them: a prototype
averages them, MAML fits them) and a query's class probabilities are averaged over its views.
The views are the same for every image and every run: nothing random happens at test time.
Shifts are given in pixels of a 28 px image and scale with the input size.
"""

from __future__ import annotations

import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

#: A view: (rotation degrees, shift x, shift y in pixels of a 28 px image, scale).
IDENTITY = (0.0, 0.0, 0.0, 1.0)
_SHIFTS = tuple((0.0, dx, dy, 1.0) for dx, dy in ((-1.5, 0.0), (1.5, 0.0), (0.0, -1.5), (0.0, 1.5)))
_TURNS = ((-8.0, 0.0, 0.0, 1.0), (8.0, 0.0, 0.0, 1.0))
_SCALES = ((0.0, 0.0, 0.0, 0.9), (0.0, 0.0, 0.0, 1.1))
#: The views of each ``--tta`` choice, identity first.
VIEWS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "none": (IDENTITY,),
    "shift": (IDENTITY, *_SHIFTS),
    "affine": (IDENTITY, *_SHIFTS, *_TURNS, *_SCALES),
}


def views(images: torch.Tensor, kind: str) -> list[torch.Tensor]:
    """``images`` ``(n, C, S, S)`` -> one ``(n, C, S, S)`` tensor per view of ``VIEWS[kind]``
    (the first is ``images`` itself). Uncovered pixels become 0 (no ink)."""
    if kind not in VIEWS:
        raise ValueError(
            f"unknown test-time augmentation {kind!r}; choose one of {', '.join(VIEWS)}"
        )
    unit = images.shape[-1] / 28
    out = []
    for angle, dx, dy, scale in VIEWS[kind]:
        if (angle, dx, dy, scale) == IDENTITY:
            out.append(images)
            continue
        out.append(
            TF.affine(
                images,
                angle=angle,
                translate=[dx * unit, dy * unit],
                scale=scale,
                shear=[0.0, 0.0],
                interpolation=InterpolationMode.BILINEAR,
            )
        )
    return out


def augmented_support(
    support: torch.Tensor, labels: torch.Tensor, kind: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The support set with every view of every image, and their labels."""
    if kind == "none":
        return support, labels
    shown = views(support, kind)
    return torch.cat(shown), labels.repeat(len(shown))


def averaged_probs(classifier, query: torch.Tensor, kind: str) -> torch.Tensor:
    """Class probabilities ``(n, n_way)`` of ``query``, averaged over its views."""
    shown = views(query, kind)
    with torch.no_grad():
        return sum(torch.softmax(classifier.logits(q), 1) for q in shown) / len(shown)
