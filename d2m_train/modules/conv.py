"""Convolution helpers and the MelGAN-style residual stack used by every D2M-GAN network.

Residual unit (paper Table A.10, official ``ResnetBlock``): ``[LReLU(0.2), reflect-pad d, conv k3 dilation d]
+ [LReLU(0.2), conv k1]`` summed with a learned 1x1 shortcut; the three convs are weight-normalised as in the
official code (the paper's table does not say; both variants share it).

Paper vs official code: the paper's stack has **3** units (dilations 1, 3, 9); the official code uses **4**
(1, 3, 9, 27). ``ResidualStack(num_units=...)`` takes either.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

CONV_NORMS = ("batch", "none", "weight")  # of a main conv and what follows it (normed_conv)


def wn_conv1d(*args, **kwargs) -> nn.Module:
    """A weight-normalised ``nn.Conv1d``."""
    return weight_norm(nn.Conv1d(*args, **kwargs))


class ResidualUnit(nn.Module):
    def __init__(self, dim: int, dilation: int, negative_slope: float = 0.2):
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(negative_slope),
            nn.ReflectionPad1d(dilation),
            wn_conv1d(dim, dim, kernel_size=3, dilation=dilation),
            nn.LeakyReLU(negative_slope),
            wn_conv1d(dim, dim, kernel_size=1),
        )
        self.shortcut = wn_conv1d(dim, dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


class ResidualStack(nn.Sequential):
    """``num_units`` residual units with dilations 3**0 .. 3**(num_units-1); length preserving."""

    def __init__(self, dim: int, num_units: int = 3):
        if num_units < 1:
            raise ValueError(f"a residual stack needs at least one unit, got {num_units}")
        super().__init__(*[ResidualUnit(dim, 3 ** i) for i in range(num_units)])


def normed_conv(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0, norm: str = "none"
                ) -> list[nn.Module]:
    """A main conv with its normalisation: ``batch`` (BatchNorm1d after it), ``weight`` (the conv weight-normalised,
    as the residual units' convs) or ``none`` (a plain conv, as the official code)."""
    if norm not in CONV_NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {CONV_NORMS}")
    conv = (wn_conv1d if norm == "weight" else nn.Conv1d)(c_in, c_out, kernel, stride, padding)
    return [conv, nn.BatchNorm1d(c_out)] if norm == "batch" else [conv]


def init_plain_convs(module: nn.Module, std: float = 0.02) -> None:
    """N(0, std) on the weights of plain (not weight-normalised) convs, as the official ``weights_init``.

    (Officially this is also applied to weight-normed convs, where it has no lasting effect; we skip them.)
    """
    for child in module.modules():
        if isinstance(child, nn.Conv1d) and not hasattr(child, "parametrizations"):
            nn.init.normal_(child.weight, 0.0, std)


def output_length(length: int, kernel: int, stride: int = 1, padding: int = 0, reflect: int = 0,
                  dilation: int = 1) -> int:
    """Length after an optional reflection pad (each side) and a Conv1d."""
    return (length + 2 * reflect + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
