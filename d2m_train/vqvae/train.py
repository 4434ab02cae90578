"""Train a VQ-VAE of the JukeBox family on the dataset's own audio (``d2m-train vqvae``), so the harness runs
without the released checkpoint.

Objective per level, as JukeBox: lmix reconstruction (L2 + ``linf`` x mean of the 2048 largest squared errors,
both over the data's sample variance) + ``multispectral`` x the mean L2 distance of STFT magnitudes at
(2048, 1024, 512) / hops (240, 120, 50) / windows (1200, 600, 240), over the data's mean spectral norm
+ ``commit`` x the commitment loss; codebooks by EMA with dead-code revival. Differences: the bandwidths are
estimated from the training segments here (JukeBox precomputes them per dataset), and the run is
single-process.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from d2m_train.checkpoint import seed_everything
from d2m_train.config import Config
from d2m_train.data.loading import EpochBatchSampler, SeededSegments, resolve_spec
from d2m_train.data.segments import D2MSegmentDataset
from d2m_train.runlog import MetricsCSV, plot_metrics
from d2m_train.vqvae.checkpoint import save_vqvae
from d2m_train.vqvae.hparams import JUKEBOX_5B, VQVAEHParams
from d2m_train.vqvae.jukebox import JukeboxVQVAE

logger = logging.getLogger(__name__)
_STFTS = ((2048, 240, 1200), (1024, 120, 600), (512, 50, 240))


def _magnitude(x: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    window = torch.hann_window(win, device=x.device)
    return torch.stft(x.reshape(x.shape[0], -1).float(), n_fft, hop, win, window=window, return_complex=True).abs()


def multispectral_distance(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Mean over the three STFTs of the per-item L2 norm of the magnitude difference (batch mean)."""
    total = 0.0
    for n_fft, hop, win in _STFTS:
        diff = _magnitude(target, n_fft, hop, win) - _magnitude(output, n_fft, hop, win)
        total = total + diff.reshape(diff.shape[0], -1).norm(dim=-1).mean()
    return total / len(_STFTS)


def estimate_bandwidth(audio: torch.Tensor) -> dict[str, float]:
    """Sample variance and mean spectral norm (first STFT) of a batch of training audio."""
    spec = _magnitude(audio, *_STFTS[0]).reshape(audio.shape[0], -1).norm(dim=-1).mean()
    return {"l2": max(float(audio.var()), 1e-8), "spec": max(float(spec), 1e-8)}


def vqvae_loss(model: JukeboxVQVAE, audio: torch.Tensor, bandwidth: dict[str, float], multispectral: float,
               linf: float, levels: tuple[int, ...] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    levels = tuple(range(model.hparams.levels)) if levels is None else levels
    recons, outs = model(audio, levels)
    target = audio.reshape(audio.shape[0], 1, -1)
    total, metrics = 0.0, {}
    for level, recon, out in zip(levels, recons, outs):
        n = recon.shape[-1]
        residual = (recon - target[..., :n]).pow(2).reshape(audio.shape[0], -1)
        l2 = residual.mean() / bandwidth["l2"]
        top = residual.topk(min(2048, residual.shape[1]), dim=1).values.mean() / bandwidth["l2"]
        spec = multispectral_distance(target[..., :n], recon) / bandwidth["spec"]
        level_loss = l2 + linf * top + multispectral * spec + model.hparams.commit * out.commit_loss
        total = total + level_loss
        metrics.update({f"l{level}_l2": float(l2.detach()), f"l{level}_spec": float(spec.detach()),
                        f"l{level}_commit": float(out.commit_loss.detach()),
                        f"l{level}_usage": float(out.metrics.get("usage", float("nan")))})
    metrics["loss"] = float(total.detach())
    return total, metrics


def train_vqvae(cfg: Config, out_dir: str | Path, steps: int | None = None, device: str = "cpu") -> Path:
    """Train on ``cfg.data``'s train split; writes ``out_dir/vqvae.pt`` (JukeBox layout), metrics and a plot."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tcfg = cfg.vqvae.train
    steps = steps or tcfg.steps
    seed_everything(cfg.train.seed)
    if cfg.train.cpu_threads:
        torch.set_num_threads(cfg.train.cpu_threads)
    hparams = VQVAEHParams.from_dict(cfg.vqvae.hparams) if cfg.vqvae.hparams else JUKEBOX_5B
    model = JukeboxVQVAE(hparams).to(device).train()
    spec = resolve_spec(_audio_only(cfg.data), cfg.data.train_split)
    items = SeededSegments(D2MSegmentDataset(spec, train=True, use_visual=False, seed=cfg.train.seed),
                           cfg.train.seed)
    sampler = EpochBatchSampler(len(items), min(tcfg.batch_size, len(items)), cfg.train.seed)
    loader = DataLoader(items, batch_sampler=sampler, num_workers=0)
    plain = D2MSegmentDataset(spec, train=False, use_visual=False)  # no gain augmentation, start crop
    probe = torch.stack([torch.as_tensor(plain[i]["audio"]) for i in range(min(len(plain), 8))]).to(device)
    bandwidth = estimate_bandwidth(probe)
    probe_start = _probe_loss(model, probe, bandwidth, tcfg)
    optimiser = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    log = MetricsCSV(out_dir / "vqvae_metrics.csv")
    started, metrics = time.perf_counter(), {}
    crop_rng = torch.Generator().manual_seed(cfg.train.seed)
    for step, batch in enumerate(loader, start=1):
        audio = _crop(torch.as_tensor(batch["audio"]), tcfg.crop, crop_rng).to(device)
        loss, metrics = vqvae_loss(model, audio, bandwidth, tcfg.multispectral, tcfg.linf, tcfg.levels)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % tcfg.log_every == 0 or step == steps:
            log.write({"step": step, **metrics})
            logger.info("vqvae step %d | %s", step, " ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        if step >= steps:
            break
    metrics.update(probe_loss_start=probe_start, probe_loss_end=_probe_loss(model, probe, bandwidth, tcfg))
    logger.info("VQ-VAE loss on %d fixed training segments: %.4g -> %.4g", len(probe),
                metrics["probe_loss_start"], metrics["probe_loss_end"])
    path = save_vqvae(model.cpu(), out_dir / "vqvae.pt", step=steps, metrics=metrics)
    plot_metrics(out_dir / "vqvae_metrics.csv", out_dir / "vqvae_losses.png", "VQ-VAE")
    logger.info("VQ-VAE: %d steps in %.1f s -> %s", steps, time.perf_counter() - started, path)
    return path


@torch.no_grad()
def _probe_loss(model: JukeboxVQVAE, probe: torch.Tensor, bandwidth: dict[str, float], tcfg) -> float:
    """The training objective on fixed, unaugmented segments (codebooks not updated)."""
    model.eval()
    try:
        return vqvae_loss(model, probe, bandwidth, tcfg.multispectral, tcfg.linf, tcfg.levels)[1]["loss"]
    finally:
        model.train()


def _crop(audio: torch.Tensor, length: int | None, generator: torch.Generator) -> torch.Tensor:
    if length is None or length >= audio.shape[-1]:
        return audio
    starts = torch.randint(0, audio.shape[-1] - length + 1, (audio.shape[0],), generator=generator)
    return torch.stack([row[s:s + length] for row, s in zip(audio, starts.tolist())])


def _audio_only(data):
    import dataclasses

    return dataclasses.replace(data, visual="none", use_motion=True)
