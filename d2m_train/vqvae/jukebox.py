"""A VQ-VAE whose module tree and state-dict keys are exactly those of openai/jukebox's ``VQVAE``.

Layout (one Encoder and one Decoder per level; level L chains L+1 conv blocks):
``encoders.{L}.level_blocks.{b}.model.{i}.0`` down conv (k = 2*stride, stride, pad stride//2),
``...model.{i}.1.model.{j}.model.{1,3}`` the residual convs (k3 dilated, k1), ``...model.{downs_t[b]}`` the k3 conv
to ``emb_width``; ``decoders.{L}.level_blocks.{b}.model.0`` input k3 conv, ``...model.{i+1}.0.model.{j}...`` res
convs (dilations reversed), ``...model.{i+1}.1`` ConvTranspose1d; ``decoders.{L}.out``;
``bottleneck.level_blocks.{L}.k`` (l_bins, emb_width) codebook. ``k_sum``/``k_elem`` (EMA statistics) are not
saved, as in JukeBox. Only the modules are re-implemented here (no JukeBox code is imported).

D2M-GAN uses level 2 (top, hop 128) for its high model and level 1 (middle, hop 32) for the low model; 44100 input
samples give 5512 / 1378 / 344 latent frames, and decoding one level gives 344*128 = 44032 or 1378*32 = 44096
samples.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from d2m_train.vqvae.hparams import JUKEBOX_5B, VQVAEHParams


class ResConv1DBlock(nn.Module):
    def __init__(self, width: int, state: int, dilation: int):
        super().__init__()
        self.model = nn.Sequential(nn.ReLU(), nn.Conv1d(width, state, 3, 1, dilation, dilation), nn.ReLU(),
                                   nn.Conv1d(state, width, 1, 1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.model(x)


class Resnet1D(nn.Module):
    def __init__(self, width: int, depth: int, m_conv: float, growth: int, reverse: bool = False):
        super().__init__()
        blocks = [ResConv1DBlock(width, int(m_conv * width), growth ** d) for d in range(depth)]
        self.model = nn.Sequential(*(blocks[::-1] if reverse else blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class EncoderConvBlock(nn.Module):
    def __init__(self, c_in: int, emb: int, down: int, stride: int, width: int, depth: int, m_conv: float,
                 growth: int):
        super().__init__()
        blocks: list[nn.Module] = [nn.Sequential(nn.Conv1d(c_in if i == 0 else width, width, 2 * stride, stride,
                                                           stride // 2),
                                                 Resnet1D(width, depth, m_conv, growth)) for i in range(down)]
        blocks.append(nn.Conv1d(width, emb, 3, 1, 1))
        self.model = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class DecoderConvBlock(nn.Module):
    def __init__(self, emb: int, down: int, stride: int, width: int, depth: int, m_conv: float, growth: int,
                 reverse: bool):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv1d(emb, width, 3, 1, 1)]
        for i in range(down):
            blocks.append(nn.Sequential(Resnet1D(width, depth, m_conv, growth, reverse),
                                        nn.ConvTranspose1d(width, emb if i == down - 1 else width, 2 * stride,
                                                           stride, stride // 2)))
        self.model = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Encoder(nn.Module):
    def __init__(self, hp: VQVAEHParams, level: int):
        super().__init__()
        mult = hp.multipliers[level]
        self.level_blocks = nn.ModuleList([
            EncoderConvBlock(1 if b == 0 else hp.emb_width, hp.emb_width, hp.downs_t[b], hp.strides_t[b],
                             hp.width * mult, hp.depth * mult, hp.m_conv, hp.dilation_growth_rate)
            for b in range(level + 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio (B, 1, N) -> this level's continuous latent (B, emb, N // hop)."""
        for block in self.level_blocks:
            x = block(x)
        return x


class Decoder(nn.Module):
    def __init__(self, hp: VQVAEHParams, level: int):
        super().__init__()
        mult = hp.multipliers[level]
        self.level_blocks = nn.ModuleList([
            DecoderConvBlock(hp.emb_width, hp.downs_t[b], hp.strides_t[b], hp.width * mult, hp.depth * mult,
                             hp.m_conv, hp.dilation_growth_rate, hp.reverse_decoder_dilation)
            for b in range(level + 1)])
        self.out = nn.Conv1d(hp.emb_width, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One level's (quantised) latent (B, emb, T) -> audio (B, 1, T * hop); blocks run from the top down."""
        for block in reversed(self.level_blocks):
            x = block(x)
        return self.out(x)


@dataclasses.dataclass
class BottleneckOutput:
    codes: torch.Tensor  # (B, T) int64
    quantised: torch.Tensor  # (B, emb, T), straight-through: forward = codebook rows, gradient -> the input
    commit_loss: torch.Tensor
    metrics: dict[str, float]


class BottleneckBlock(nn.Module):
    """One level's codebook: nearest-row quantisation (squared Euclidean), EMA updates with dead-code revival."""

    def __init__(self, l_bins: int, emb_width: int, mu: float = 0.99, threshold: float = 1.0):
        super().__init__()
        self.l_bins, self.emb_width, self.mu, self.threshold = l_bins, emb_width, mu, threshold
        self.register_buffer("k", torch.zeros(l_bins, emb_width))
        self.register_buffer("k_sum", torch.zeros(l_bins, emb_width), persistent=False)
        self.register_buffer("k_elem", torch.zeros(l_bins), persistent=False)
        self.initialised = False

    def quantise(self, x: torch.Tensor) -> torch.Tensor:
        """(B, emb, T) -> codes (B, T)."""
        flat = x.detach().float().permute(0, 2, 1).reshape(-1, self.emb_width)
        k = self.k.float()
        distance = flat.pow(2).sum(-1, keepdim=True) - 2 * flat @ k.t() + k.pow(2).sum(-1)[None]
        return distance.argmin(-1).view(x.shape[0], x.shape[2])

    def dequantise(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, T) -> (B, emb, T)."""
        return F.embedding(codes, self.k).permute(0, 2, 1).contiguous()

    def straight_through(self, x: torch.Tensor) -> torch.Tensor:
        """Quantise ``x`` in the forward pass, pass the gradient straight to ``x`` in the backward pass."""
        quantised = self.dequantise(self.quantise(x)).to(x.dtype)
        return x + (quantised - x).detach()

    def forward(self, x: torch.Tensor, update: bool) -> BottleneckOutput:
        flat = x.detach().float().permute(0, 2, 1).reshape(-1, self.emb_width)
        if update and not self.initialised:
            self._init(flat)
        codes = self.quantise(x)
        quantised = self.dequantise(codes).to(x.dtype)
        metrics = self._update(flat, codes.reshape(-1)) if update else {}
        commit = (quantised.detach() - x).pow(2).mean()
        return BottleneckOutput(codes, x + (quantised - x).detach(), commit, metrics)

    def _random_rows(self, flat: torch.Tensor) -> torch.Tensor:
        if flat.shape[0] < self.l_bins:
            repeats = math.ceil(self.l_bins / flat.shape[0])
            flat = flat.repeat(repeats, 1)
            flat = flat + torch.randn_like(flat) * (0.01 / math.sqrt(self.emb_width))
        return flat[torch.randperm(flat.shape[0], device=flat.device)[:self.l_bins]]

    @torch.no_grad()
    def _init(self, flat: torch.Tensor) -> None:
        self.k.copy_(self._random_rows(flat))
        self.k_sum.copy_(self.k)
        self.k_elem.fill_(1.0)
        self.initialised = True

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, codes: torch.Tensor) -> dict[str, float]:
        onehot = torch.zeros(self.l_bins, flat.shape[0], device=flat.device)
        onehot.scatter_(0, codes.view(1, -1), 1)
        batch_sum, batch_elem = onehot @ flat, onehot.sum(-1)
        self.k_sum.mul_(self.mu).add_((1 - self.mu) * batch_sum)
        self.k_elem.mul_(self.mu).add_((1 - self.mu) * batch_elem)
        used = (self.k_elem >= self.threshold).float()[:, None]
        self.k.copy_(used * self.k_sum / self.k_elem.clamp(min=1e-8)[:, None] + (1 - used) * self._random_rows(flat))
        prob = batch_elem / batch_elem.sum()
        return {"entropy": float(-(prob * torch.log(prob + 1e-8)).sum()), "usage": float(used.sum())}


class Bottleneck(nn.Module):
    def __init__(self, hp: VQVAEHParams):
        super().__init__()
        self.level_blocks = nn.ModuleList([BottleneckBlock(hp.l_bins, hp.emb_width, hp.mu, hp.revival_threshold)
                                           for _ in range(hp.levels)])


class JukeboxVQVAE(nn.Module):
    def __init__(self, hparams: VQVAEHParams = JUKEBOX_5B):
        super().__init__()
        self.hparams = hparams
        self.encoders = nn.ModuleList([Encoder(hparams, level) for level in range(hparams.levels)])
        self.decoders = nn.ModuleList([Decoder(hparams, level) for level in range(hparams.levels)])
        self.bottleneck = Bottleneck(hparams)

    def encode(self, audio: torch.Tensor, level: int) -> torch.Tensor:
        """Audio (B, N) or (B, 1, N) -> continuous latent of ``level`` (B, emb, N // hop)."""
        return self.encoders[level](_as_bct(audio))

    def quantise(self, latent: torch.Tensor, level: int) -> torch.Tensor:
        return self.bottleneck.level_blocks[level].quantise(latent)

    def dequantise(self, codes: torch.Tensor, level: int) -> torch.Tensor:
        return self.bottleneck.level_blocks[level].dequantise(codes)

    def decode(self, latent: torch.Tensor, level: int) -> torch.Tensor:
        """A (quantised) latent of ``level`` -> audio (B, 1, T * hop)."""
        return self.decoders[level](latent)

    def forward(self, audio: torch.Tensor, levels: tuple[int, ...] | None = None
                ) -> tuple[list[torch.Tensor], list[BottleneckOutput]]:
        """Training pass: each of ``levels`` (default all) encoded, quantised (EMA-updated in train mode), decoded."""
        x = _as_bct(audio)
        outs, recons = [], []
        for level in range(self.hparams.levels) if levels is None else levels:
            out = self.bottleneck.level_blocks[level](self.encoders[level](x), update=self.training)
            outs.append(out)
            recons.append(self.decoders[level](out.quantised))
        return recons, outs


def _as_bct(audio: torch.Tensor) -> torch.Tensor:
    if audio.dim() == 2:
        return audio.unsqueeze(1)
    if audio.dim() == 3 and audio.shape[1] == 1:
        return audio
    raise ValueError(f"audio must be (B, N) or (B, 1, N), got {tuple(audio.shape)}")
