"""ResNet-12 as in MetaOptNet (Lee et al., 2019) and FEAT (Ye et al., 2020), without DropBlock.

Four residual blocks, each three 3x3 convolutions with BatchNorm (LeakyReLU(0.1) after the first
two), a 1x1-convolution shortcut with BatchNorm, LeakyReLU(0.1) after the sum and a 2x2
max-pool; widths ``hidden * (1, 2.5, 5, 10)`` (64-160-320-640 for ``hidden=64``); global average
pooling. 84 x 84 inputs give 5 x 5 maps before the pooling, 28 x 28 give 1 x 1.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.batchnorm import norm_layer

WIDTHS = (1.0, 2.5, 5.0, 10.0)
SLOPE = 0.1


def resnet12_widths(hidden: int) -> tuple[int, ...]:
    """Channels of the four blocks: ``hidden * (1, 2.5, 5, 10)``, rounded."""
    return tuple(max(1, round(hidden * k)) for k in WIDTHS)


def resnet12_side(input_size: int) -> int:
    """Side of the last feature map: four floor halvings (84 -> 42 -> 21 -> 10 -> 5)."""
    return input_size // 2 ** len(WIDTHS)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class ResBlock12(nn.Module):
    """``(n, in, s, s)`` -> ``(n, out, s // 2, s // 2)``."""

    def __init__(self, in_channels: int, out_channels: int, norm: str) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels)
        self.bn1 = norm_layer(norm, out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = norm_layer(norm, out_channels)
        self.conv3 = conv3x3(out_channels, out_channels)
        self.bn3 = norm_layer(norm, out_channels)
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), norm_layer(norm, out_channels)
        )
        self.act = nn.LeakyReLU(SLOPE)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.pool(self.act(out + self.shortcut(x)))


class ResNet12(nn.Module):
    """Images ``(n, in_channels, S, S)`` (S >= 16) -> embeddings ``(n, out_features)``,
    ``out_features = round(10 * hidden)`` (640 for ``hidden=64``)."""

    def __init__(
        self, in_channels: int = 3, hidden: int = 64, input_size: int = 84, norm: str = "batch"
    ) -> None:
        super().__init__()
        widths = resnet12_widths(hidden)
        chans = (in_channels, *widths)
        self.blocks = nn.Sequential(
            *(ResBlock12(chans[i], chans[i + 1], norm) for i in range(len(widths)))
        )
        side = resnet12_side(input_size)
        self.map_shape = (widths[-1], side, side)
        self.out_features = widths[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="leaky_relu")
        self.to(memory_format=torch.channels_last)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, C, S, S)`` -> ``(n, out_features, S // 16, S // 16)`` (before the pooling)."""
        return self.blocks(x.contiguous(memory_format=torch.channels_last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, C, S, S)`` -> ``(n, out_features)``: the feature map, globally averaged."""
        return self.feature_map(x).mean((2, 3))
