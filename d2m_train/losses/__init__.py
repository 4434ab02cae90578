"""Losses: hinge GAN, feature matching, codebook, and wav/mel through the synthesizer."""

from d2m_train.losses.adversarial import feature_matching_loss, hinge_d_loss, hinge_g_loss
from d2m_train.losses.generator import GeneratorLoss, LossWeights
from d2m_train.losses.spectral import LogMelSpectrogram

__all__ = ["GeneratorLoss", "LogMelSpectrogram", "LossWeights", "feature_matching_loss", "hinge_d_loss",
           "hinge_g_loss"]
