"""The D2M-GAN solver: owns the config, G, D, the frozen synthesizer, optimisers, data and the training loop.

One step (official order): G forward -> **D step** on the detached fake latent and the real continuous latent
x_l (hinge) -> **G step** with D frozen (hinge adversarial + feature matching against this step's pre-update real
features + codebook + wav/mel through the straight-through synthesizer). Named stateful objects (generator,
discriminator, opt_g, opt_d, scaler) make up the checkpoint, with the step and the RNG states.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from d2m_train import builders, checkpoint, distributed
from d2m_train.config import Config, dump_config
from d2m_train.data.loading import EpochBatchSampler, SeededSegments
from d2m_train.data.segments import SAMPLE_RATE
from d2m_train.losses import hinge_d_loss
from d2m_train.models.generator import tanh_saturation
from d2m_train.runlog import MetricsCSV, TensorBoardLog, plot_metrics

logger = logging.getLogger(__name__)

# Config sections that must not change when a run is resumed (the rest -- steps, logging, workers -- may).
_FROZEN_ON_RESUME = ("model", "loss", "optim", "data.dataset", "data.visual", "data.use_motion", "train.batch_size",
                     "train.seed")
# What the generator takes from a batch (each only when the data has it).
MODEL_INPUTS = ("motion", "video", "genre")


def resolve_device(name: str, info: distributed.DistInfo) -> torch.device:
    """The device of this rank (made current when it is a GPU)."""
    device = device_for_rank(name, info, torch.cuda.is_available(), torch.cuda.device_count())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def device_for_rank(name: str, info: distributed.DistInfo, cuda_available: bool, gpus: int) -> torch.device:
    """``train.device`` for one rank: ``auto`` is cuda when present, else cpu; ``cuda`` is the rank's own GPU
    (LOCAL_RANK under torchrun). ``cuda:N`` names one GPU, which under torchrun would put every rank on it: refused
    there (use ``cuda``, and CUDA_VISIBLE_DEVICES to choose the GPUs)."""
    if name == "auto":
        name = "cuda" if cuda_available else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"train.device {name!r} is not a device (auto, cpu, cuda or cuda:N): {error}") from None
    if device.type != "cuda":
        return device
    if not cuda_available:
        raise ValueError(f"train.device {name}, but CUDA is not available")
    if device.index is not None and info.world_size > 1:
        raise ValueError(f"train.device {name} under torchrun ({info.world_size} ranks) would put every rank on GPU "
                         f"{device.index}: use train.device cuda (each rank takes GPU LOCAL_RANK) and "
                         "CUDA_VISIBLE_DEVICES to choose the GPUs")
    index = info.local_rank if device.index is None else device.index
    if index >= gpus:
        raise ValueError(f"train.device {name}: GPU {index} asked (LOCAL_RANK {info.local_rank}), {gpus} visible")
    return torch.device("cuda", index)


def features_dir(cfg: Config, run_dir: Path) -> Path:
    """Where the run's visual features live: ``data.features_dir``, else ``RUN/features``."""
    return Path(cfg.data.features_dir) if cfg.data.features_dir else Path(run_dir) / "features"


def segment_items(cfg: Config, split: str, train: bool, run_dir: Path) -> SeededSegments:
    """The segments of ``split`` as the solver feeds them (seeded crops; genres when the generator takes them)."""
    dataset = builders.get_dataset(cfg, split, train=train, features_dir=features_dir(cfg, run_dir))
    return SeededSegments(dataset, cfg.train.seed, with_genre=cfg.model.generator.genre_dim > 0)


def model_inputs(batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """The generator's inputs of a collated batch, on ``device``."""
    non_blocking = device.type == "cuda"
    return {key: torch.as_tensor(batch[key]).to(device, non_blocking=non_blocking)
            for key in MODEL_INPUTS if key in batch}


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "auto":  # bf16 only where the GPU computes it (not emulated, as on GPUs before Ampere)
        return (torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)
                else None)
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]


class D2MSolver:
    def __init__(self, cfg: Config, run_dir: str | Path, dist_info: distributed.DistInfo | None = None,
                 vqvae_path: str | Path | None = None):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.dist = dist_info or distributed.from_torchrun_env()
        self.device = resolve_device(cfg.train.device, self.dist)
        distributed.init_process_group(self.dist, self.device)
        if cfg.train.cpu_threads:
            torch.set_num_threads(cfg.train.cpu_threads)
        if cfg.train.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        checkpoint.seed_everything(cfg.train.seed)
        self.generator = builders.get_generator(cfg).to(self.device)
        self.discriminator = builders.get_discriminator(cfg).to(self.device)
        self.synthesizer = builders.get_synthesizer(cfg, self.device, vqvae_path)
        self.loss = builders.get_loss(cfg, self.synthesizer).to(self.device)
        self.opt_g, self.opt_d = builders.get_optimizers(cfg, self.generator, self.discriminator)
        self.amp = amp_dtype(cfg.train.amp, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp is torch.float16)
        self.g_train = distributed.wrap(self.generator, self.dist, self.device)
        self.d_train = distributed.wrap(self.discriminator, self.dist, self.device)
        self.step = 0
        self.batches_per_epoch: int | None = None  # this run's loader (set by fit; saved with each checkpoint)
        self.stateful = {"generator": self.generator, "discriminator": self.discriminator, "opt_g": self.opt_g,
                         "opt_d": self.opt_d, "scaler": self.scaler}

    # ----------------------------------------------------------------------------------------------- one step
    def _autocast(self):
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    def run_step(self, batch: dict) -> dict[str, float]:
        """One D update then one G update; returns the step's losses as floats."""
        audio = torch.as_tensor(batch["audio"]).to(self.device, non_blocking=self.device.type == "cuda")
        self.g_train.train()
        self.d_train.train()
        watch = tanh_saturation(self.generator.vq_generator) if self.step == 0 else contextlib.nullcontext(None)
        with self._autocast(), watch as shares:
            latent = self.g_train(**model_inputs(batch, self.device))
        if shares:
            self._report_saturation(shares[0])
        targets = self.synthesizer.targets(audio)
        size = latent.shape[0]

        # D step: fake (detached) and real in one forward (D has no batch-dependent layer, so this equals two).
        with self._autocast():
            outputs = self.d_train(torch.cat([latent.detach(), targets.continuous.to(latent.dtype)]))
        d_fake = [[f[:size] for f in scale] for scale in outputs]
        d_real = [[f[size:] for f in scale] for scale in outputs]
        loss_d = hinge_d_loss(d_real, d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_d)

        # G step with D frozen (the bare module: no DDP hooks for a forward that updates nothing of D).
        self.discriminator.requires_grad_(False)
        try:
            real_features = [[f.detach() for f in scale] for scale in d_real]
            with self._autocast():  # the loss casts its terms to float32; the mel runs in float32
                d_fake_g = self.discriminator(latent)
                loss_g, terms = self.loss(latent, d_fake_g, real_features, targets, audio)
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler.scale(loss_g).backward()
            self.scaler.step(self.opt_g)
            self.scaler.update()
        finally:
            self.discriminator.requires_grad_(True)
        metrics = {"d_loss": loss_d.detach(), "g_total": loss_g.detach(), **terms}
        return {name: float(value) for name, value in metrics.items()}

    def _report_saturation(self, share: float) -> None:
        limit = self.cfg.train.max_init_saturation
        if share > limit:
            logger.warning("the generator starts saturated: %.1f %% of its tanh outputs are beyond +-0.99 at step 0 "
                           "(> %.0f %%), where tanh passes almost no gradient; model.generator.norm is %r (none, "
                           "the paper tables' reading, starts at ~0 %%)", 100 * share, 100 * limit,
                           self.cfg.model.generator.norm)
        else:
            logger.info("generator tanh saturation at step 0: %.1f %% of outputs beyond +-0.99", 100 * share)

    # ------------------------------------------------------------------------------------------- state/ckpt
    def state_dict(self) -> dict:
        return {"step": self.step, "batches_per_epoch": self.batches_per_epoch, "config": self.cfg.to_dict(),
                "rng": checkpoint.rng_state(),
                **{name: obj.state_dict() for name, obj in self.stateful.items()}}

    def load_state_dict(self, state: dict) -> None:
        _check_resumable(state["config"], self.cfg.to_dict())
        for name, obj in self.stateful.items():
            obj.load_state_dict(state[name])
        self.step = int(state["step"])
        checkpoint.set_rng_state(state["rng"])

    def restore(self) -> Path | None:
        """Resume from the run dir's latest checkpoint, if any."""
        path = checkpoint.latest_checkpoint(self.run_dir)
        if path is not None:
            self.load_state_dict(checkpoint.load_checkpoint(path))
            logger.info("resumed %s at step %d", path, self.step)
        return path

    def save(self) -> Path | None:
        if not self.dist.is_main:
            return None
        return checkpoint.save_checkpoint(self.run_dir, self.step, self.state_dict(), self.cfg.train.keep_last)

    # ------------------------------------------------------------------------------------------ audio samples
    def sample_batch(self, count: int) -> dict | None:
        """The first ``count`` training segments as one batch (the same at every checkpoint); None for none."""
        items = segment_items(self.cfg, self.cfg.data.train_split, train=True, run_dir=self.run_dir)
        count = min(count, len(items))
        return next(iter(DataLoader(Subset(items, range(count)), batch_size=count))) if count else None

    def audio_samples(self, batch: dict) -> dict[str, torch.Tensor]:
        """What the generator makes of ``batch`` now (through the VQ-VAE's decoder), next to the real music."""
        synth = self.synthesizer
        self.generator.eval()
        try:
            with torch.no_grad():
                latent = self.generator(**model_inputs(batch, self.device))
                generated = synth.decode(synth.vqvae.dequantise(synth.vqvae.quantise(latent.float(), synth.level),
                                                                synth.level))
        finally:
            self.generator.train()
        real = torch.as_tensor(batch["audio"])
        clips = {}
        for index, name in enumerate(batch["name"]):
            clips[f"generated/{name}"] = generated[index].detach().float().cpu().reshape(-1).clamp(-1, 1)
            clips[f"real/{name}"] = real[index].float().reshape(-1).clamp(-1, 1)
        return clips

    # -------------------------------------------------------------------------------------------- the loop
    def train_loader(self, start_step: int) -> tuple[DataLoader, EpochBatchSampler]:
        cfg = self.cfg
        items = segment_items(cfg, cfg.data.train_split, train=True, run_dir=self.run_dir)
        sampler = EpochBatchSampler(len(items), cfg.train.batch_size, cfg.train.seed, start_step, self.dist.rank,
                                    self.dist.world_size)
        loader = DataLoader(items, batch_sampler=sampler, num_workers=cfg.train.num_workers,
                            pin_memory=self.device.type == "cuda", persistent_workers=cfg.train.num_workers > 0)
        return loader, sampler

    def fit(self) -> dict[str, float]:
        """Train until ``epochs`` (or ``max_steps``); resumes from the run dir; returns the last step's losses."""
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.restore()
        if self.dist.is_main:
            dump_config(cfg, self.run_dir / "config.yaml")
        loader, sampler = self.train_loader(self.step)
        self.batches_per_epoch = sampler.batches_per_epoch
        total = cfg.train.epochs * sampler.batches_per_epoch
        if cfg.train.max_steps is not None:
            total = min(total, cfg.train.max_steps)
        log = MetricsCSV(self.run_dir / "metrics.csv", resume_step=self.step) if self.dist.is_main else None
        board = TensorBoardLog(self.run_dir, self.step) if self.dist.is_main and cfg.train.tensorboard else None
        samples = self.sample_batch(cfg.train.tensorboard_audio) if board is not None else None
        window: list[dict[str, float]] = []
        metrics: dict[str, float] = {}
        started, last_time = time.perf_counter(), time.perf_counter()
        logger.info("training %s from step %d to %d (%d batches/epoch, device %s, amp %s)", cfg.name, self.step,
                    total, sampler.batches_per_epoch, self.device, self.amp)
        if self.dist.world_size > 1:
            logger.info("batch %d per rank x %d ranks = %d per step; optim.lr %g is not scaled with it (the paper's "
                        "is for batch %d on one GPU)", cfg.train.batch_size, self.dist.world_size,
                        cfg.train.batch_size * self.dist.world_size, cfg.optim.lr, cfg.train.batch_size)
        for batch in loader:
            if self.step >= total:
                break
            metrics = self.run_step(batch)
            self.step += 1
            window.append(metrics)
            if self.step % cfg.train.log_every == 0 or self.step == total:
                now = time.perf_counter()
                row = {"step": self.step, "epoch": sampler.epoch_of(self.step - 1),
                       **{k: sum(m[k] for m in window) / len(window) for k in window[0]},
                       "steps_per_s": len(window) / max(now - last_time, 1e-9)}
                window, last_time = [], now
                if log is not None:
                    log.write(row)
                if board is not None:
                    board.write(row)
                logger.info("step %d | %s", self.step, " ".join(f"{k} {v:.4g}" for k, v in row.items()
                                                                   if k not in ("step",)))
            if self.step % cfg.train.checkpoint_every == 0 or self.step == total:
                self.save()
                if self.dist.is_main:
                    plot_metrics(self.run_dir / "metrics.csv", self.run_dir / "losses.png", cfg.name)
                if board is not None and samples is not None:
                    board.write_audio(self.step, self.audio_samples(samples), SAMPLE_RATE)
        if board is not None:
            board.close()
        distributed.barrier(self.dist)
        logger.info("done: %d steps in %.1f s", self.step, time.perf_counter() - started)
        return metrics


def _check_resumable(saved: dict, current: dict) -> None:
    changed = [key for key in _FROZEN_ON_RESUME if _get(saved, key) != _get(current, key)]
    if changed:
        raise ValueError(f"the run dir's checkpoint was trained with different {', '.join(changed)}; resume with "
                         "the same config or train into a new --out folder")


def _get(values: dict, dotted: str):
    for part in dotted.split("."):
        values = values.get(part, {}) if isinstance(values, dict) else None
    return values
