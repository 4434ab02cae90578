"""Generation: wavs for a split from a trained run, muxed onto the clip videos so people can watch and listen.

Per segment (as the official generate_*.py, batch 1, no augmentation): ``generated/NAME.wav`` (the generator's
latent -> nearest codebook rows -> the VQ-VAE decoder), ``original/NAME.wav`` (the normalised ground truth, 44100
samples) and ``vqvae/NAME.wav`` (the ground truth's own codes decoded: the synthesizer's ceiling). Files are named
by segment, so ``d2m-train evaluate beats --generated OUT/generated --reference OUT/original`` pairs them.
``generation.json`` records the run, step, level, the generator's inputs (ablations), data and VQ-VAE source.
Deviation: the official inference denoises the prediction with noisereduce; we write it as decoded.

Videos: per clip, the generated segments are laid on the clip's timeline (segment k starts at its ``start_s``),
silence elsewhere, and muxed onto the clip video with ffmpeg (H.264 copied, AAC audio) as ``videos/CLIP.mp4``.
Clip videos come from the build (``clips/CLIP.mp4``) or, for the official lists, from ``--videos DIR``
(``DIR/COMP_MUSIC_CLIP.mp4``, segment k at 2(k-1) s).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pandas as pd
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Subset

from d2m_train import builders, checkpoint, distributed
from d2m_train.config import load_config
from d2m_train.data.segments import SAMPLE_RATE, SEGMENT_SAMPLES
from d2m_train.evaluation import GENERATION_FILE, generation_info, write_json
from d2m_train.solver import features_dir, model_inputs, resolve_device, segment_items

logger = logging.getLogger(__name__)
_SEGMENT = re.compile(r"^(?P<clip>.+)_seg(?P<k>\d+)$")


@dataclasses.dataclass
class GenerationResult:
    generated: list[Path]
    videos: list[Path]
    missing_videos: list[str]


@dataclasses.dataclass(frozen=True)
class _Placement:
    clip: str
    video: Path
    start_s: float


def generate(run_dir: str | Path, split: str, out_dir: str | Path, checkpoint_path: str | Path | None = None,
             vqvae: str | Path | None = None, videos_dir: str | Path | None = None, limit: int | None = None,
             device: str = "auto", mux: bool = True) -> GenerationResult:
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a training run (no config.yaml): train one with `d2m-train fit`")
    cfg = load_config(run_dir / "config.yaml")
    checkpoint_path = Path(checkpoint_path) if checkpoint_path else checkpoint.latest_checkpoint(run_dir)
    if checkpoint_path is None or not checkpoint_path.is_file():
        raise FileNotFoundError(f"no checkpoint in {run_dir / 'checkpoints'}")
    device = resolve_device(device, distributed.DistInfo())
    generator = builders.get_generator(cfg)
    state = checkpoint.load_checkpoint(checkpoint_path)
    generator.load_state_dict(state["generator"])
    generator.to(device).eval()
    synth = builders.get_synthesizer(cfg, device, vqvae)
    items = segment_items(cfg, split, train=False, run_dir=run_dir)
    count = len(items) if limit is None else min(limit, len(items))
    folders = {name: out_dir / name for name in ("generated", "original", "vqvae")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    written = []
    # Batches of one, in order: the segments and inputs exactly as the solver's loader makes them.
    batches = DataLoader(Subset(items, range(count)), batch_size=1, shuffle=False)
    with torch.no_grad():
        for batch in batches:
            latent = generator(**model_inputs(batch, device))
            predicted = synth.decode(synth.vqvae.dequantise(synth.vqvae.quantise(latent, synth.level), synth.level))
            audio = torch.as_tensor(batch["audio"]).to(device)
            reconstructed = synth.decode(synth.targets(audio).quantised)
            (name,) = batch["name"]
            _write(folders["generated"] / f"{name}.wav", predicted)
            _write(folders["original"] / f"{name}.wav", audio)
            _write(folders["vqvae"] / f"{name}.wav", reconstructed)
            written.append(folders["generated"] / f"{name}.wav")
    logger.info("wrote %d generated segments of %s to %s (checkpoint %s)", len(written), split, out_dir,
                checkpoint_path.name)
    write_json(generation_info(cfg, run_dir, checkpoint_path, int(state["step"]), split, len(written),
                               features_dir(cfg, run_dir), vqvae or cfg.vqvae.path, state.get("batches_per_epoch")),
               out_dir / GENERATION_FILE)
    result = GenerationResult(written, [], [])
    if mux:
        placements = _placements(cfg, [p.stem for p in written], videos_dir)
        result.videos, result.missing_videos = mux_videos(placements, folders["generated"], out_dir / "videos")
    return result


def _write(path: Path, audio: torch.Tensor) -> None:
    sf.write(path, audio.detach().float().cpu().numpy().reshape(-1), SAMPLE_RATE, subtype="PCM_16")


def _placements(cfg, names: list[str], videos_dir: str | Path | None) -> dict[str, _Placement]:
    if cfg.data.build_dir:
        table = pd.read_csv(Path(cfg.data.build_dir) / "segments.csv", dtype={"segment": str, "clip_id": str})
        rows = table.set_index("segment")
        clips = Path(cfg.data.build_dir) / "clips"
        return {n: _Placement(str(rows.at[n, "clip_id"]), clips / f"{rows.at[n, 'clip_id']}.mp4",
                              float(rows.at[n, "start_s"])) for n in names if n in rows.index}
    if videos_dir is None:
        return {}
    placements = {}
    for name in names:
        match = _SEGMENT.match(name)
        if match:
            clip = match["clip"]
            placements[name] = _Placement(clip, Path(videos_dir) / f"{clip}.mp4", 2.0 * (int(match["k"]) - 1))
    return placements


def mux_videos(placements: dict[str, _Placement], wav_dir: Path, out_dir: Path) -> tuple[list[Path], list[str]]:
    """One mp4 per clip: its video with the generated segments laid on its timeline."""
    if not placements:
        return [], []
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()  # the static ffmpeg the pipeline runs (a dependency of tiktok-dm)
    out_dir.mkdir(parents=True, exist_ok=True)
    clips: dict[str, list[tuple[str, _Placement]]] = {}
    for name, placement in placements.items():
        clips.setdefault(placement.clip, []).append((name, placement))
    made, missing = [], []
    for clip, segments in sorted(clips.items()):
        video = segments[0][1].video
        if not video.is_file():
            missing.append(str(video))
            continue
        duration = _duration(video)
        track = np.zeros(int(np.ceil(duration * SAMPLE_RATE)) + SEGMENT_SAMPLES, np.float32)
        for name, placement in segments:
            audio, _ = sf.read(wav_dir / f"{name}.wav", dtype="float32")
            start = int(round(placement.start_s * SAMPLE_RATE))
            track[start:start + len(audio)] = audio[:max(len(track) - start, 0)]
        wav = out_dir / f"{clip}.wav"
        sf.write(wav, track[:int(round(duration * SAMPLE_RATE))], SAMPLE_RATE, subtype="PCM_16")
        target = out_dir / f"{clip}.mp4"
        command = [ffmpeg, "-y", "-v", "error", "-i", str(video), "-i", str(wav), "-map", "0:v:0", "-map", "1:a:0",
                   "-c:v", "copy", "-c:a", "aac", "-b:a", "160k", "-shortest", str(target)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg failed muxing {target}: {done.stderr.strip()[-500:]}")
        wav.unlink()
        made.append(target)
    logger.info("muxed %d clip video(s) into %s; %d clip video(s) missing", len(made), out_dir, len(missing))
    return made, missing


def _duration(video: Path) -> float:
    try:
        with av.open(str(video)) as container:
            return container.duration / av.time_base
    except (av.FFmpegError, TypeError) as error:  # TypeError: no duration in the container
        raise RuntimeError(f"cannot read the duration of {video}: {error}") from None
