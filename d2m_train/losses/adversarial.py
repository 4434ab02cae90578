"""Hinge GAN losses and feature matching over the multi-scale discriminator's outputs.

``outputs`` is what ``MultiScaleDiscriminator`` returns: per scale, a list of feature maps whose last entry is
the logits map. Every term is computed in float32 (the maps may be bf16/fp16 under autocast).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Outputs = list[list[torch.Tensor]]


def hinge_d_loss(real: Outputs, fake: Outputs) -> torch.Tensor:
    """Sum over scales of mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))."""
    return sum(F.relu(1 - r[-1].float()).mean() + F.relu(1 + f[-1].float()).mean()
               for r, f in zip(real, fake, strict=True))


def hinge_g_loss(fake: Outputs) -> torch.Tensor:
    """Sum over scales of -mean(D(fake))."""
    return sum(-f[-1].float().mean() for f in fake)


def feature_matching_loss(fake: Outputs, real: Outputs, n_layers: int) -> torch.Tensor:
    """Sum over scales and non-final maps of w * L1(D_fake, D_real.detach()), w = (1/num_D) * 4/(n_layers+1).

    ``n_layers`` is the number of strided layers (4), as the official weight uses (0.2667 with 3 scales).
    """
    weight = (1.0 / len(fake)) * (4.0 / (n_layers + 1))
    return sum(weight * F.l1_loss(f_map.float(), r_map.detach().float())
               for f, r in zip(fake, real, strict=True) for f_map, r_map in zip(f[:-1], r[:-1], strict=True))
