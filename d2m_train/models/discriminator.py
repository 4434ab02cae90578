"""Multi-scale window discriminator (MelGAN-style) applied to the generator's latent.

Temporal reshape (paper Section 3.3, official code): the latent (B, 64, T) is viewed as (B, 1, 64*T) --
channel-major flattening, i.e. 64 consecutive runs of T frames -- so the 1-D discriminator sees one long signal;
``reshape=False`` (Table 5 "w/o reshape") feeds (B, 64, T) with 64 input channels instead.

Block (Table A.11 with ndf=16): reflect-pad 7 + conv k15 -> ndf, LReLU; ``n_layers`` grouped convs
k(10s+1) stride s=4 pad 5s groups in/4 (16 -> 64 -> 256 -> 1024 -> 1024), LReLU; conv k5 -> 1024, LReLU;
conv k3 -> 1 (window/patch logits). All convs weight-normalised. Three blocks see x, x/2, x/4
(AvgPool1d(4, stride 2, pad 1, count_include_pad=False) between scales). Each block returns all its feature maps
(the last is the logits) for the feature-matching loss.

Official-code option (both datasets): ``ndf=32, first_kernel=16, penultimate_channels=512`` -- 32/128/512/1024/
1024 with groups 8/32/128/256, a k16 first conv (so each scale's first map is one sample shorter) and a 512-wide
penultimate conv: 9.21 M parameters. For the high latent (22016 samples) the logits are 86/43/22 long per scale;
for the low latent (88192) 345/173/87.
"""

from __future__ import annotations

import torch
from torch import nn

from d2m_train.modules import wn_conv1d


def flatten_latent(latent: torch.Tensor) -> torch.Tensor:
    """(B, C, T) -> (B, 1, C*T), channel-major (the paper's temporal reshape)."""
    return latent.reshape(latent.shape[0], 1, -1)


class WindowDiscriminator(nn.Module):
    def __init__(self, in_channels: int = 1, ndf: int = 16, n_layers: int = 4, downsampling_factor: int = 4,
                 first_kernel: int = 15, penultimate_channels: int = 1024, max_channels: int = 1024):
        super().__init__()
        layers = nn.ModuleList([nn.Sequential(nn.ReflectionPad1d(7), wn_conv1d(in_channels, ndf, first_kernel),
                                              nn.LeakyReLU(0.2))])
        nf, stride = ndf, downsampling_factor
        for _ in range(n_layers):
            nf_prev, nf = nf, min(nf * stride, max_channels)
            groups = max(nf_prev // 4, 1)
            if nf_prev % groups or nf % groups:
                raise ValueError(f"discriminator widths {nf_prev} -> {nf} are not divisible by {groups} groups")
            layers.append(nn.Sequential(wn_conv1d(nf_prev, nf, stride * 10 + 1, stride, stride * 5, groups=groups),
                                        nn.LeakyReLU(0.2)))
        layers.append(nn.Sequential(wn_conv1d(nf, penultimate_channels, 5, 1, 2), nn.LeakyReLU(0.2)))
        layers.append(wn_conv1d(penultimate_channels, 1, 3, 1, 1))
        self.layers = layers

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features


class MultiScaleDiscriminator(nn.Module):
    def __init__(self, num_scales: int = 3, reshape: bool = True, latent_dim: int = 64, **block_kwargs):
        super().__init__()
        if num_scales < 1:
            raise ValueError(f"num_scales must be >= 1, got {num_scales}")
        self.reshape = reshape
        in_channels = 1 if reshape else latent_dim
        self.blocks = nn.ModuleList([WindowDiscriminator(in_channels, **block_kwargs) for _ in range(num_scales)])
        self.downsample = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    @property
    def n_layers(self) -> int:
        return len(self.blocks[0].layers) - 3

    def forward(self, latent: torch.Tensor) -> list[list[torch.Tensor]]:
        """latent (B, C, T) -> per scale, the list of feature maps (last = logits)."""
        x = flatten_latent(latent) if self.reshape else latent
        outputs = []
        for index, block in enumerate(self.blocks):
            if index:
                x = self.downsample(x)
            outputs.append(block(x))
        return outputs
