"""One VQ-VAE level as D2M-GAN's synthesizer: ground-truth latents, the codebook lookup and the decoder.

Ground-truth path (no gradient): audio -> this level's encoder -> continuous latent x_l -> nearest codebook rows
-> quantised latent LookUp(phi(x_a)).
Prediction path: the generator's latent -> nearest codebook rows with a **straight-through estimator** (forward =
the codebook rows, backward = identity to the generator's latent) -> the frozen decoder -> waveform. So the wav and
mel L1 losses reach the generator. (The official code decodes argmin tokens under ``torch.no_grad``, so its
audio_error and mel_error only log values: no gradient.)
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from d2m_train.vqvae.jukebox import JukeboxVQVAE

LEVEL_INDEX = {"high": 2, "low": 1}  # JukeBox top (hop 128) and middle (hop 32) levels


@dataclasses.dataclass
class LatentTargets:
    continuous: torch.Tensor  # x_l (B, 64, T): the discriminator's "real" and the 5-weighted official code term
    quantised: torch.Tensor  # LookUp(phi(x_a)) (B, 64, T): the codebook loss target
    codes: torch.Tensor  # (B, T)


class LevelSynthesizer(nn.Module):
    def __init__(self, vqvae: JukeboxVQVAE, level: str | int):
        super().__init__()
        self.level = LEVEL_INDEX[level] if isinstance(level, str) else int(level)
        if not 0 <= self.level < vqvae.hparams.levels:
            raise ValueError(f"level {level} is not in this {vqvae.hparams.levels}-level VQ-VAE")
        self.vqvae = vqvae.requires_grad_(False).eval()
        self.hop_length = vqvae.hparams.hop_lengths[self.level]

    def train(self, mode: bool = True) -> "LevelSynthesizer":  # the VQ-VAE stays frozen in eval mode
        return super().train(False)

    @torch.no_grad()
    def targets(self, audio: torch.Tensor) -> LatentTargets:
        continuous = self.vqvae.encode(audio, self.level)
        codes = self.vqvae.quantise(continuous, self.level)
        return LatentTargets(continuous, self.vqvae.dequantise(codes, self.level).to(continuous.dtype), codes)

    def straight_through(self, latent: torch.Tensor) -> torch.Tensor:
        return self.vqvae.bottleneck.level_blocks[self.level].straight_through(latent)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, 64, T) latent -> (B, 1, T * hop) audio; differentiable w.r.t. ``latent``."""
        return self.vqvae.decode(latent, self.level)

    def synthesize(self, latent: torch.Tensor) -> torch.Tensor:
        """Generator latent -> codebook rows (straight-through) -> audio."""
        return self.decode(self.straight_through(latent))
