"""JukeBox-compatible VQ-VAE (state-dict keys of the released 5b checkpoint), loaders and D2M's synthesizer."""

from d2m_train.vqvae.checkpoint import (VQVAECheckpointError, atomic_torch_save, load_vqvae, read_vqvae_file,
                                        save_vqvae)
from d2m_train.vqvae.hparams import JUKEBOX_5B, VQVAEHParams
from d2m_train.vqvae.jukebox import JukeboxVQVAE
from d2m_train.vqvae.synth import LEVEL_INDEX, LatentTargets, LevelSynthesizer

__all__ = ["JUKEBOX_5B", "LEVEL_INDEX", "JukeboxVQVAE", "LatentTargets", "LevelSynthesizer", "VQVAECheckpointError",
           "VQVAEHParams", "atomic_torch_save", "load_vqvae", "read_vqvae_file", "save_vqvae"]
