"""Machine-readable provenance and results: what a generation used, and what an evaluation measured.

- ``generate`` writes ``OUT/generation.json`` (:func:`generation_info`): the run, checkpoint step, dataset, level,
  which inputs the generator had (motion yes/no, visual source or none: the paper's ablations), the data source and
  the VQ-VAE (codebook source), so every number computed on ``OUT/generated`` can say what produced it.
- ``evaluate beats|genre --out DIR`` writes ``DIR/beats.json`` + ``DIR/beats_pairs.csv`` and ``DIR/genre.json`` +
  ``DIR/genre_queries.csv`` (:func:`write_beats_result`, :func:`write_genre_result`), each JSON carrying the
  generation info found next to the generated folder. ``d2m-train report`` reads these folders.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
from pathlib import Path

import pandas as pd

from d2m_train.config import Config
from d2m_train.metrics.beats import BeatsScore
from d2m_train.metrics.genre import GenreAccuracy, GenreQuery
from d2m_train.vqvae import JUKEBOX_5B, VQVAEHParams, read_vqvae_file

logger = logging.getLogger(__name__)

GENERATION_FILE = "generation.json"
BEATS_FILE, GENRE_FILE = "beats.json", "genre.json"
FORMAT = 1
# The paper's runs: 3000 epochs of batch 16, 149 (TikTok) / 415 (AIST++) batches an epoch in the release's loader
# (ours drops the last partial batch: 414 on AIST++), so a full run is judged in epochs; steps are for reference.
PAPER_EPOCHS = 3000
PAPER_STEPS = {"tiktok": PAPER_EPOCHS * 149, "aistplus": PAPER_EPOCHS * 415}


def visual_source(cfg: Config, features_dir: Path | None) -> str:
    """The visual input actually used: none, precomputed (the official (1, 2048) arrays: I3D) or the extractor
    name of a computed features folder (frame_stats_v1 offline)."""
    if cfg.data.visual == "none":
        return "none"
    if cfg.data.official_lists and cfg.data.visual in ("auto", "precomputed"):
        folder = "aistplus" if cfg.data.dataset == "aistplus" else "tiktok"
        stamp = Path(cfg.data.root or cfg.data.official_lists) / folder / "video_s2" / "features.json"
        if stamp.is_file():  # e.g. `d2m-train prepare-aistpp --visual frame_stats`
            return str(json.loads(stamp.read_text()).get("extractor", "unknown"))
        return "precomputed"
    stamp = features_dir / "features.json" if features_dir else None
    if stamp is not None and stamp.is_file():
        return str(json.loads(stamp.read_text()).get("extractor", "unknown"))
    return cfg.data.visual


def vqvae_info(path: str | Path) -> dict:
    """Codebook source of a VQ-VAE file: ours (``d2m-train vqvae``, with its steps) or an external JukeBox file."""
    path = Path(path)
    state, saved_hps = read_vqvae_file(path)
    payload_steps = None
    if saved_hps is not None:
        import torch

        payload_steps = int(torch.load(path, map_location="cpu", weights_only=True).get("step", 0))
    hps = VQVAEHParams.from_dict(saved_hps) if saved_hps is not None else None
    codebook = state.get("bottleneck.level_blocks.0.k")
    shape = dataclasses.asdict(hps) if hps is not None else {
        "l_bins": int(codebook.shape[0]) if codebook is not None else None, "width": None}
    five_b = hps == JUKEBOX_5B if hps is not None else (codebook is not None and tuple(codebook.shape) == (2048, 64)
                                                        and len(state) == 669)
    if saved_hps is not None:
        origin = f"d2m-train vqvae ({payload_steps} steps on the dataset's audio)"
    else:
        origin = "external JukeBox-layout file" + (" (5b shape)" if five_b else "")
    return {"path": str(path), "name": path.name, "sha256": _sha256(path)[:12], "origin": origin,
            "jukebox_5b_shape": bool(five_b), "l_bins": shape.get("l_bins"), "width": shape.get("width")}


def generation_info(cfg: Config, run_dir: Path, checkpoint_path: Path, step: int, split: str, segments: int,
                    features_dir: Path | None, vqvae_path: str | Path, batches_per_epoch: int | None = None) -> dict:
    """``batches_per_epoch``: the run's loader's (saved with its checkpoints; None from an older checkpoint)."""
    data = cfg.data
    kind = next(name for name in ("build_dir", "hf_dataset", "official_lists") if getattr(data, name))
    source = {"kind": {"build_dir": "build", "hf_dataset": "hf_dataset"}.get(kind, kind), "path": str(getattr(data, kind))}
    return {"format": FORMAT, "created": _now(), "run_dir": str(run_dir), "config_name": cfg.name,
            "checkpoint": str(checkpoint_path), "step": int(step),
            "paper_steps": PAPER_STEPS[data.dataset], "batches_per_epoch": batches_per_epoch,
            "epochs": round(step / batches_per_epoch, 3) if batches_per_epoch else None, "paper_epochs": PAPER_EPOCHS,
            "dataset": data.dataset, "level": cfg.model.level,
            "split": split, "segments": int(segments),
            "inputs": {"motion": bool(data.use_motion), "visual": visual_source(cfg, features_dir),
                       "genre": cfg.model.generator.genre_dim > 0},
            "data_source": source, "vqvae": vqvae_info(vqvae_path), "denoised": False}


def write_json(payload: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    temporary.replace(path)
    return path


def find_generation_info(generated_dir: Path, explicit: Path | None = None) -> dict | None:
    """The ``generation.json`` given, or the one ``d2m-train generate`` wrote next to ``generated_dir``."""
    candidates = [explicit] if explicit else [generated_dir / GENERATION_FILE, generated_dir.parent / GENERATION_FILE]
    for path in candidates:
        if path is not None and path.is_file():
            info = json.loads(path.read_text())
            info["file"] = str(path)
            return info
    if explicit:
        raise FileNotFoundError(f"generation info {explicit} does not exist")
    return None


def write_beats_result(score: BeatsScore, generated: Path, reference: Path, out_dir: Path,
                       generation: dict | None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"generated": Path(p.generated).name, "reference": p.reference, "reference_bins": p.reference_bins,
                   "generated_bins": p.generated_bins, "both_bins": p.both_bins, "coverage": p.coverage,
                   "hit": p.hit} for p in score.pairs]).to_csv(out_dir / "beats_pairs.csv", index=False)
    payload = {"format": FORMAT, "metric": "beats", "created": _now(), "generated": str(generated),
               "reference": str(reference), "pairs": len(score.pairs), "coverage": score.coverage, "hit": score.hit,
               "tool": "Beats_Scores rules (librosa onsets, second-level bins, mean of per-pair ratios)",
               "generation": generation}
    return write_json(payload, out_dir / BEATS_FILE)


def write_genre_result(result: GenreAccuracy, queries: list[GenreQuery], generated: Path, database: Path, label: str,
                       out_dir: Path, generation: dict | None) -> Path:
    """``queries``: what each query retrieved (``folder_genre_accuracy``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"query": q.query, "label": q.label, "nearest": q.nearest, "nearest_label": q.nearest_label,
                   "correct": q.correct} for q in queries]).to_csv(out_dir / "genre_queries.csv", index=False)
    payload = {"format": FORMAT, "metric": "genre", "created": _now(), "generated": str(generated),
               "database": str(database), "label": label, "correct": result.correct, "total": result.total,
               "accuracy": result.accuracy, "embedder": result.embedder, "distance": result.distance,
               "generation": generation}
    return write_json(payload, out_dir / GENRE_FILE)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
