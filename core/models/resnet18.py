"""ResNet-18 for small inputs (as commonly used on CIFAR): a 3x3 stride-1 stem without the
initial max-pool, then torchvision's BasicBlock layout (4 stages of 2 blocks, widths
``hidden * (1, 2, 4, 8)``, stride 2 from the second stage on, 1x1 projection shortcuts), global
average pooling. ``hidden=64`` is the standard 11M-parameter network with 512 features.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.batchnorm import norm_layer

STAGES = (1, 2, 4, 8)


def resnet18_side(input_size: int) -> int:
    """Side of the last feature map: three stride-2 stages (32 -> 16 -> 8 -> 4)."""
    side = input_size
    for _ in STAGES[1:]:
        side = (side - 1) // 2 + 1
    return side


class BasicBlock(nn.Module):
    """``(n, in, s, s)`` -> ``(n, out, s', s')``, ``s' = ceil(s / stride)``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = norm_layer(norm, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = norm_layer(norm, out_channels)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                norm_layer(norm, out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """Images ``(n, in_channels, S, S)`` (S >= 8) -> embeddings ``(n, 8 * hidden)``."""

    def __init__(
        self, in_channels: int = 3, hidden: int = 64, input_size: int = 32, norm: str = "batch"
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False),
            norm_layer(norm, hidden),
            nn.ReLU(),
        )
        layers, width = [], hidden
        for i, k in enumerate(STAGES):
            out = hidden * k
            stride = 1 if i == 0 else 2
            layers.append(
                nn.Sequential(BasicBlock(width, out, stride, norm), BasicBlock(out, out, 1, norm))
            )
            width = out
        self.layers = nn.Sequential(*layers)
        side = resnet18_side(input_size)
        self.map_shape = (width, side, side)
        self.out_features = width
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.to(memory_format=torch.channels_last)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, C, S, S)`` -> ``(n, 8 * hidden, s, s)`` (before the pooling)."""
        return self.layers(self.stem(x.contiguous(memory_format=torch.channels_last)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, C, S, S)`` -> ``(n, out_features)``: the feature map, globally averaged."""
        return self.feature_map(x).mean((2, 3))
