"""Conv-4: the standard few-shot backbone (4 x [conv3x3, BatchNorm, ReLU, maxpool2])."""

from __future__ import annotations

import torch
from torch import nn

from core.models.batchnorm import norm_layer

BLOCKS = 4


def conv_block(in_channels: int, out_channels: int, norm: str = "batch") -> nn.Sequential:
    """conv3x3 (padded), BatchNorm (see ``norm_layer``), ReLU, maxpool2."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        norm_layer(norm, out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def conv4_side(input_size: int) -> int:
    """Side of Conv-4's last feature map: four floor halvings (28 -> 14 -> 7 -> 3 -> 1)."""
    return input_size // 2**BLOCKS


class Conv4(nn.Module):
    """Maps images ``(n, in_channels, H, W)`` to embeddings ``(n, out_features)``.

    For 28 x 28 inputs and 64 channels the spatial size goes 28 -> 14 -> 7 -> 3 -> 1, so
    ``out_features`` is 64 (84 x 84: a 5 x 5 map, 1600 features). The embedding is the flattened
    last feature map (no global pooling, as in the papers); ``feature_map`` returns it unflattened.
    """

    def __init__(
        self, in_channels: int = 1, hidden: int = 64, input_size: int = 28, norm: str = "batch"
    ) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            conv_block(in_channels, hidden, norm),
            *(conv_block(hidden, hidden, norm) for _ in range(BLOCKS - 1)),
        )
        side = conv4_side(input_size)
        self.map_shape = (hidden, side, side)
        self.out_features = hidden * side * side
        # channels_last runs these small convolutions ~1.3x faster on CPU (benchmarks/).
        self.to(memory_format=torch.channels_last)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, C, S, S)`` -> ``(n, hidden, s, s)`` with ``s = S // 16``."""
        return self.encoder(x.contiguous(memory_format=torch.channels_last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, C, S, S)`` -> ``(n, out_features)``."""
        return self.feature_map(x).flatten(1)
