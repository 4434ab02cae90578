"""Config sections -> objects. Models and modules never see the config; these functions unpack it."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from d2m_train.config import Config
from d2m_train.data.segments import MOTION_SHAPES, VISUAL_SHAPE, D2MSegmentDataset
from d2m_train.losses import GeneratorLoss, LogMelSpectrogram
from d2m_train.models import D2MGenerator, MotionEncoder, MultiScaleDiscriminator, VQGenerator, VisualModule
from d2m_train.vqvae import LevelSynthesizer, load_vqvae

GENRE_CLASSES = 10


def get_generator(cfg: Config) -> D2MGenerator:
    m, g = cfg.model.motion, cfg.model.generator
    frames, joint_dim = MOTION_SHAPES[cfg.data.dataset]
    motion = (MotionEncoder(frames, joint_dim, arch=m.arch, hidden=m.hidden, channels=m.channels, out_dim=m.out_dim,
                            res_units=m.res_units, norm=m.norm) if cfg.data.use_motion else None)
    visual = VisualModule(VISUAL_SHAPE[1], g.visual_layers) if cfg.data.visual != "none" else None
    genre = nn.Embedding(GENRE_CLASSES, g.genre_dim) if g.genre_dim else None
    if genre is not None and cfg.data.dataset != "aistplus":
        raise ValueError("model.generator.genre_dim > 0 needs AIST++ genre labels (data.dataset aistplus)")
    in_dim = (m.out_dim if motion is not None else 0) + (VISUAL_SHAPE[1] if visual is not None else 0) + g.genre_dim
    vq = VQGenerator(cfg.model.level, in_dim, channels=g.channels, latent_dim=g.latent_dim, res_units=g.res_units,
                     norm=g.norm, sigma=g.sigma, low_length=g.low_length)
    return D2MGenerator(vq, motion, visual, genre)


def get_discriminator(cfg: Config) -> MultiScaleDiscriminator:
    d = cfg.model.discriminator
    return MultiScaleDiscriminator(d.num_scales, reshape=d.reshape, latent_dim=cfg.model.generator.latent_dim,
                                   ndf=d.ndf, n_layers=d.n_layers, downsampling_factor=d.downsampling_factor,
                                   first_kernel=d.first_kernel, penultimate_channels=d.penultimate_channels,
                                   max_channels=d.max_channels)


def get_synthesizer(cfg: Config, device: torch.device | str = "cpu", path: str | Path | None = None
                    ) -> LevelSynthesizer:
    path = path or cfg.vqvae.path
    if not path:
        raise ValueError("no VQ-VAE: pass --vqvae PATH (the JukeBox vqvae.pth.tar, or one from `d2m-train vqvae`)")
    vqvae = load_vqvae(path, device=device)
    if vqvae.hparams.emb_width != cfg.model.generator.latent_dim:
        raise ValueError(f"the VQ-VAE latent width {vqvae.hparams.emb_width} != model.generator.latent_dim "
                         f"{cfg.model.generator.latent_dim}")
    return LevelSynthesizer(vqvae, cfg.model.level).to(device)


def get_loss(cfg: Config, synthesizer: LevelSynthesizer) -> GeneratorLoss:
    return GeneratorLoss(cfg.loss, synthesizer, n_layers=cfg.model.discriminator.n_layers, mel=LogMelSpectrogram())


def get_optimizers(cfg: Config, generator: nn.Module, discriminator: nn.Module
                   ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """One Adam for G = motion encoder + visual module + VQ generator, one for D (lr 1e-4, betas (0.5, 0.9))."""
    betas = tuple(cfg.optim.betas)
    return (torch.optim.Adam(generator.parameters(), lr=cfg.optim.lr, betas=betas),
            torch.optim.Adam(discriminator.parameters(), lr=cfg.optim.lr, betas=betas))


def get_dataset(cfg: Config, split: str, train: bool, features_dir: str | Path | None = None) -> D2MSegmentDataset:
    from d2m_train.data.loading import resolve_spec

    spec = resolve_spec(cfg.data, split, features_dir)
    return D2MSegmentDataset(spec, train=train, use_visual=cfg.data.visual != "none", seed=cfg.train.seed)
