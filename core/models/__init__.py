"""Backbones for few-shot learners, chosen by name (see ``backbones``)."""

from core.models.backbones import BACKBONES, build_backbone, check_backbone
from core.models.batchnorm import SupportBatchNorm2d, support_statistics
from core.models.conv4 import Conv4
from core.models.resnet12 import ResNet12
from core.models.resnet18 import ResNet18

__all__ = [
    "BACKBONES",
    "Conv4",
    "ResNet12",
    "ResNet18",
    "SupportBatchNorm2d",
    "build_backbone",
    "check_backbone",
    "support_statistics",
]
