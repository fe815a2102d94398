"""Backbones chosen by name: ``build_backbone("resnet12", in_channels=3, input_size=84)``.

Every backbone maps images ``(n, C, S, S)`` to embeddings ``(n, out_features)`` and has
``feature_map(images)`` -> ``(n, *map_shape)`` (the spatial map the embedding is made of; Relation
Networks compare those). ``norm="support"`` builds it with the gradient learners' BatchNorm
(``core.models.batchnorm.SupportBatchNorm2d``).
"""

from __future__ import annotations

from torch import nn

from core.models.batchnorm import NORMS
from core.models.conv4 import Conv4, conv4_side
from core.models.resnet12 import ResNet12, resnet12_side
from core.models.resnet18 import ResNet18, resnet18_side

BACKBONES = ("conv4", "resnet12", "resnet18")

_CLASSES: dict[str, type[nn.Module]] = {"conv4": Conv4, "resnet12": ResNet12, "resnet18": ResNet18}

#: smallest input side each backbone accepts: Conv-4 and ResNet-12 halve it four times
#: (floor), ResNet-18 three times (ceil); all keep at least a 1 x 1 map.
MIN_INPUT_SIZE = {"conv4": 16, "resnet12": 16, "resnet18": 8}

BACKBONE_HELP = (
    "network: conv4 (4 x 64-channel conv blocks), resnet12 (MetaOptNet, 64-160-320-640), "
    "resnet18 (3x3 stem, no initial max-pool)"
)
HIDDEN_HELP = (
    "backbone width: conv4 channels; resnet12 first block (x1, 2.5, 5, 10); resnet18 stem "
    "(x1, 2, 4, 8)"
)
IN_CHANNELS_HELP = "image channels: 1 (grayscale drawings) or 3 (RGB photos)"


def check_backbone(name: str, in_channels: int = 1, input_size: int = 28, hidden: int = 64) -> None:
    """Raise ValueError with a one-line reason when the backbone cannot be built so."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    if input_size < MIN_INPUT_SIZE[name]:
        raise ValueError(f"{name} needs input_size >= {MIN_INPUT_SIZE[name]} px, not {input_size}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be at least 1, not {in_channels}")
    if hidden < 1:
        raise ValueError(f"hidden must be at least 1, not {hidden}")


def build_backbone(
    name: str, in_channels: int = 1, input_size: int = 28, hidden: int = 64, norm: str = "batch"
) -> nn.Module:
    """The backbone ``name`` (one of ``BACKBONES``) for ``(n, in_channels, input_size,
    input_size)`` images; ``norm`` is ``"batch"`` (``nn.BatchNorm2d``) or ``"support"``."""
    check_backbone(name, in_channels, input_size, hidden)
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    return _CLASSES[name](in_channels=in_channels, hidden=hidden, input_size=input_size, norm=norm)


def feature_map_side(name: str, input_size: int) -> int:
    """Side of ``build_backbone(name, input_size=input_size).feature_map``'s output."""
    check_backbone(name, input_size=max(input_size, MIN_INPUT_SIZE.get(name, 0)))
    return {"conv4": conv4_side, "resnet12": resnet12_side, "resnet18": resnet18_side}[name](
        input_size
    )
