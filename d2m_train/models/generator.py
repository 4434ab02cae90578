"""VQ generator G_vq: the fused condition vector -> a JukeBox latent (B, 64, T), and the full generator G.

The fused vector ``[motion (1024) | visual (2048) | genre (256, optional)]`` goes through a Linear and is then
read as a 1-channel 1-D signal by a conv stack with residual stacks (Tables A.8/A.9); the output passes tanh and
is scaled by sigma = 100 (paper; Table 5 "w/o scaling" is sigma = 1).

High level (JukeBox top level, hop 128 -> 344 latent frames for 44100 samples), Table A.8 and official code:
Linear(-> 2058); conv k6 s2 -> 32; RS; conv k41 s2 -> 64; RS; k41 -> 128; RS; k41 -> 256; RS; k41 -> 512; RS;
conv k40 -> 64; tanh. Lengths 2058 -> 1028 -> 495 -> 457 -> 419 -> 381 -> 344 (every conv has padding 1).

Low level (JukeBox middle level, hop 32 -> 1378 frames), Table A.9: conv k6 s2 -> 32; RS; k4 -> 64; RS;
k40 s2 -> 128; RS; k40 -> 256; RS; k40 -> 512; RS; k40 -> 1024; RS; k40 -> 1024, LReLU; k40 -> 64; tanh, with
the official reflection pads (3, 32, then 64 before each k40 conv).
- ``low_length="conv"`` (paper default): the input Linear is sized so the conv stack itself ends at 1378
  (Linear(-> 3380)), LReLU before the last conv, tanh last -- the table's order.
- ``low_length="linear"`` (official ``vqEncoder_low``): Linear(-> 2048), the stack ends at 1045, no LReLU before
  the last conv, and a **Linear(1045 -> 1378) after the tanh** (so the output is no longer bounded by sigma).
  The released TikTok low model is broken: its input Linear is commented out, so the 3072-long fused vector
  reaches the stack directly, the stack ends at 1301 and Linear(1045 -> 1378) fails with a shape error. Ours
  always has the input Linear, which is the working variant (Linear(3072 -> 2048) on TikTok).

Normalisation of the main convs (``norm``): ``none`` (default: Tables A.8/A.9 show none, nor does the release),
``batch`` (BatchNorm1d after each; the paper's text mentions normalisation: with it the low generator starts with
over a third of its tanh outputs saturated, see ``tanh_saturation``), ``weight`` (weight-normalised convs).

Official-code options: ``res_units=4`` (4 units, dilations up to 27; paper 3), ``genre_classes=10, genre_dim=256``
on AIST++ (an nn.Embedding of the ground-truth genre concatenated to the fused vector; not in the paper).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator

import torch
from torch import nn

from d2m_train.modules import ResidualStack, init_plain_convs, normed_conv, output_length

LEVELS = {"high": 344, "low": 1378}  # latent frames of 44100 samples: JukeBox top (hop 128) / middle (hop 32)
LOW_LENGTH_MODES = ("conv", "linear")
DEFAULT_CHANNELS = {"high": (32, 64, 128, 256, 512), "low": (32, 64, 128, 256, 512, 1024)}


@dataclasses.dataclass(frozen=True)
class _Stage:
    kernel: int
    stride: int
    reflect: int  # reflection pad each side before the conv
    padding: int = 1


# Kernel/stride/pad per stage (each stage is followed by a residual stack), then the head convs.
_STAGES = {
    "high": (_Stage(6, 2, 0), _Stage(41, 2, 0), _Stage(41, 1, 0), _Stage(41, 1, 0), _Stage(41, 1, 0)),
    "low": (_Stage(6, 2, 3), _Stage(4, 1, 32), _Stage(40, 2, 64), _Stage(40, 1, 64), _Stage(40, 1, 64),
            _Stage(40, 1, 64)),
}
_HEADS = {"high": (_Stage(40, 1, 0),), "low": (_Stage(40, 1, 64), _Stage(40, 1, 64))}
_OFFICIAL_INPUT = {"high": 2058, "low": 2048}


def stack_output_length(level: str, input_length: int) -> int:
    length = input_length
    for stage in _STAGES[level] + _HEADS[level]:
        length = output_length(length, stage.kernel, stage.stride, stage.padding, stage.reflect)
    return length


def input_length_for(level: str, target: int) -> int:
    """The smallest input length whose conv stack output is exactly ``target`` frames."""
    for length in range(1, 8 * target):
        if stack_output_length(level, length) == target:
            return length
    raise ValueError(f"no input length gives {target} frames at level {level!r}")


class VQGenerator(nn.Module):
    def __init__(self, level: str, in_dim: int, channels: tuple[int, ...] | None = None, latent_dim: int = 64,
                 res_units: int = 3, norm: str = "none", sigma: float = 100.0, low_length: str = "conv"):
        super().__init__()
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; choose one of {sorted(LEVELS)}")
        if low_length not in LOW_LENGTH_MODES:
            raise ValueError(f"unknown low_length {low_length!r}; choose one of {LOW_LENGTH_MODES}")
        channels = tuple(channels or DEFAULT_CHANNELS[level])
        if len(channels) != len(_STAGES[level]):
            raise ValueError(f"the {level} generator has {len(_STAGES[level])} conv widths, got {channels}")
        self.level, self.latent_length, self.sigma = level, LEVELS[level], float(sigma)
        official_low = level == "low" and low_length == "linear"
        self.input_length = (_OFFICIAL_INPUT[level] if level == "high" or official_low
                             else input_length_for(level, self.latent_length))
        self.input_proj = nn.Linear(in_dim, self.input_length)
        layers: list[nn.Module] = []
        previous = 1
        for index, (stage, width) in enumerate(zip(_STAGES[level], channels)):
            if index > 0:
                layers.append(nn.LeakyReLU(0.2))
            layers += _conv(previous, width, stage, norm) + [ResidualStack(width, res_units)]
            previous = width
        if level == "low":  # k40 -> widest, LReLU (Table A.9); official has no LReLU before the last conv
            layers += [nn.LeakyReLU(0.2), *_conv(previous, channels[-1], _HEADS["low"][0], norm)]
            if not official_low:
                layers.append(nn.LeakyReLU(0.2))
        else:
            layers.append(nn.LeakyReLU(0.2))
        self.tanh = nn.Tanh()
        layers += _conv(channels[-1], latent_dim, _HEADS[level][-1]) + [self.tanh]
        self.convs = nn.Sequential(*layers)
        stack_length = stack_output_length(level, self.input_length)
        self.output_proj = nn.Linear(stack_length, self.latent_length) if official_low else None
        if self.output_proj is None and stack_length != self.latent_length:
            raise AssertionError(f"internal: {level} stack gives {stack_length} frames, not {self.latent_length}")
        init_plain_convs(self)

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        """(B, 1, in_dim) -> (B, latent_dim, T), values in [-sigma, sigma] (except official low). The last conv, the
        tanh, the official output Linear and the sigma scale run in float32 even under autocast: in bf16, tanh has
        ~3 significant digits, so sigma * tanh would move in steps of 0.25-0.5 wherever |latent| >= 32."""
        out = self.input_proj(fused)
        for layer in self.convs[:-2]:
            out = layer(out)
        kind = out.device.type  # (the meta device, for shapes and counts, has no autocast to leave)
        with torch.autocast(kind, enabled=False) if kind in ("cpu", "cuda") else contextlib.nullcontext():
            out = self.tanh(self.convs[-2](out.float()))
            if self.output_proj is not None:
                out = self.output_proj(out)
            return self.sigma * out


def _conv(c_in: int, c_out: int, stage: _Stage, norm: str = "none") -> list[nn.Module]:
    pad = [nn.ReflectionPad1d(stage.reflect)] if stage.reflect else []
    return pad + normed_conv(c_in, c_out, stage.kernel, stage.stride, stage.padding, norm)


@contextlib.contextmanager
def tanh_saturation(generator: VQGenerator, threshold: float = 0.99) -> Iterator[list[float]]:
    """While entered, each forward pass of ``generator`` appends the share of its tanh outputs (before the sigma
    scale) beyond +-``threshold``: a generator that starts with most of them there hardly learns (the gradient of
    tanh is ~0 there)."""
    shares: list[float] = []

    def record(_module, _inputs, output):
        shares.append(float((output.detach().abs() > threshold).float().mean()))

    handle = generator.tanh.register_forward_hook(record)
    try:
        yield shares
    finally:
        handle.remove()


class D2MGenerator(nn.Module):
    """G = {G_m, G_v, G_vq}: motion (+ visual, + genre) -> latent (B, 64, T).

    ``motion_encoder=None`` is the paper's "w/o M" setting, ``visual=None`` "w/o V". ``genre_embedding`` is the
    official AIST++ genre input (Embedding(10, 256) of the ground-truth label; not in the paper).
    """

    def __init__(self, vq_generator: VQGenerator, motion_encoder: nn.Module | None = None,
                 visual: nn.Module | None = None, genre_embedding: nn.Embedding | None = None):
        super().__init__()
        if motion_encoder is None and visual is None:
            raise ValueError("the generator needs motion, visual features or both")
        self.motion_encoder, self.visual, self.genre_embedding = motion_encoder, visual, genre_embedding
        self.vq_generator = vq_generator

    def forward(self, motion: torch.Tensor | None = None, video: torch.Tensor | None = None,
                genre: torch.Tensor | None = None) -> torch.Tensor:
        parts = []
        if self.motion_encoder is not None:
            parts.append(self.motion_encoder(_required(motion, "motion")))
        if self.visual is not None:
            parts.append(self.visual(_required(video, "video")))
        if self.genre_embedding is not None:
            parts.append(self.genre_embedding(_required(genre, "genre").long()).unsqueeze(1))
        return self.vq_generator(torch.cat(parts, dim=2))


def _required(value: torch.Tensor | None, name: str) -> torch.Tensor:
    if value is None:
        raise ValueError(f"this generator was built with a {name} input but got none")
    return value
