"""Visual module G_v: the per-segment visual feature (B, 1, dim) -> (B, 1, dim).

The paper names G_v but gives no table for it; the official code has none (the (B, 1, 2048) I3D vector is
concatenated raw). ``layers=0`` (default) is that identity; ``layers>=1`` adds Linear+LReLU layers (an option of
ours, not from the paper or the code).
"""

from __future__ import annotations

import torch
from torch import nn


class VisualModule(nn.Module):
    def __init__(self, dim: int = 2048, layers: int = 0):
        super().__init__()
        if layers < 0:
            raise ValueError(f"visual module layers must be >= 0, got {layers}")
        self.dim = dim
        blocks: list[nn.Module] = []
        for _ in range(layers):
            blocks += [nn.Linear(dim, dim), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*blocks)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if video.shape[1:] != (1, self.dim):
            raise ValueError(f"visual features must be (B, 1, {self.dim}), got {tuple(video.shape)}")
        return self.net(video)
