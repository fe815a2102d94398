"""Conv-4: the standard few-shot backbone (4 x [conv3x3, BatchNorm, ReLU, maxpool2])."""

from __future__ import annotations

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class Conv4(nn.Module):
    """Maps images ``(n, in_channels, H, W)`` to embeddings ``(n, out_features)``.

    For 28 x 28 inputs and 64 channels the spatial size goes 28 -> 14 -> 7 -> 3 -> 1, so
    ``out_features`` is 64.
    """

    def __init__(self, in_channels: int = 1, hidden: int = 64, input_size: int = 28) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            conv_block(in_channels, hidden),
            conv_block(hidden, hidden),
            conv_block(hidden, hidden),
            conv_block(hidden, hidden),
        )
        side = input_size
        for _ in range(4):
            side //= 2
        self.out_features = hidden * side * side
        # channels_last runs these small convolutions ~1.3x faster on CPU (benchmarks/).
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        return self.encoder(x).flatten(1)
