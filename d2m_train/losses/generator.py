"""D2M-GAN's generator objective with named weights.

L_G = adv + lambda_fm * L_FM + lambda_c * L1(LookUp(phi(x_a)), G(x)) + lambda_c_continuous * L1(x_l, G(x))
      + lambda_wav * L1(a, S(G(x))) + lambda_mel * L1(mel(a), mel(S(G(x))))
Paper weights: fm 3, c 15, wav 40, mel 15 (``lambda_c_continuous`` 0). The official code splits the code term
into **5 x L1(continuous x_l, G(x)) + 8 x L1(quantised, G(x))**: set ``c=8, c_continuous=5`` for it.
S = the frozen VQ-VAE decoder of the level after a straight-through codebook lookup, so wav and mel carry
gradient (``decoder_gradient: true``, the paper's reading). The official code decodes argmin tokens under no_grad:
the two terms then only add their value to the total and log it (``decoder_gradient: false``).
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from d2m_train.losses.adversarial import Outputs, feature_matching_loss, hinge_g_loss
from d2m_train.losses.spectral import LogMelSpectrogram
from d2m_train.vqvae.synth import LatentTargets, LevelSynthesizer


@dataclasses.dataclass(frozen=True)
class LossWeights:
    adv: float = 1.0
    fm: float = 3.0
    c: float = 15.0
    c_continuous: float = 0.0
    wav: float = 40.0
    mel: float = 15.0
    # wav and mel reach the generator through the straight-through decode (paper); false: their values are added and
    # logged but carry no gradient (the release, which decodes under no_grad).
    decoder_gradient: bool = True


class GeneratorLoss(nn.Module):
    def __init__(self, weights: LossWeights, synthesizer: LevelSynthesizer, n_layers: int,
                 mel: LogMelSpectrogram | None = None):
        super().__init__()
        self.weights, self.synthesizer, self.n_layers = weights, synthesizer, n_layers
        self.mel = mel or LogMelSpectrogram()

    def forward(self, latent: torch.Tensor, d_fake: Outputs, d_real: Outputs, targets: LatentTargets,
                audio: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and the detached unweighted terms (g_adv, g_fm, g_code, g_code_cont, g_wav, g_mel)."""
        w = self.weights
        latent = latent.float()
        terms = {"g_adv": hinge_g_loss(d_fake), "g_fm": feature_matching_loss(d_fake, d_real, self.n_layers),
                 "g_code": F.l1_loss(latent, targets.quantised.float()),
                 "g_code_cont": F.l1_loss(latent, targets.continuous.float())}
        total = w.adv * terms["g_adv"] + w.fm * terms["g_fm"] + w.c * terms["g_code"]
        total = total + w.c_continuous * terms["g_code_cont"]
        if w.wav or w.mel:
            with contextlib.nullcontext() if w.decoder_gradient else torch.no_grad():
                predicted = self.synthesizer.synthesize(latent).float()  # (B, 1, T * hop)
            audio = audio.float().reshape(audio.shape[0], 1, -1)
            terms["g_wav"] = F.l1_loss(predicted, audio[..., :predicted.shape[-1]])
            terms["g_mel"] = F.l1_loss(self.mel(predicted), self.mel(audio))
            total = total + w.wav * terms["g_wav"] + w.mel * terms["g_mel"]
        return total, {name: value.detach() for name, value in terms.items()}
