"""A tiktok-dm-shaped build for the d2m tests: 6 segments of 3 clips (4 train, 2 test), no videos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from tiktok_dm.testing.music import synth_song

SAMPLE_RATE = 22050


def synthetic_build(root: Path, *, songs: bool = False, frame_stats: bool = False) -> Path:
    """Segments named like the official layout, a ``segments.csv`` and the arrays it points at.

    ``songs``: each clip is a synthesised song with a ``song_id`` (tempo differs per segment);
    otherwise plain sines without song ids. ``frame_stats``: cached ``frame_stats_v1`` visual
    features per segment (so the visual branch trains without videos).
    """
    rng = np.random.default_rng(0)
    (root / "d2m" / "audio_s2").mkdir(parents=True)
    (root / "d2m" / "motion_s2").mkdir(parents=True)
    if frame_stats:
        (root / "features").mkdir(parents=True)
        (root / "features" / "features.json").write_text(json.dumps({"extractor": "frame_stats_v1", "shape": [1, 2048]}))
    rows = []
    for index in range(6):
        name = f"000000_{index // 2}_{index // 2}_seg{index % 2 + 1}"
        if songs:
            audio = synth_song(2.0, SAMPLE_RATE, bpm=100 + 10 * index, root_hz=110.0, seed=index)
        else:
            t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
            audio = 0.3 * np.sin(2 * np.pi * (110 + 40 * index) * t)
        sf.write(root / "d2m" / "audio_s2" / f"{name}.wav", audio, SAMPLE_RATE)
        np.save(root / "d2m" / "motion_s2" / f"{name}.npy", rng.random((60, 75)).astype(np.float32))
        if frame_stats:
            np.save(root / "features" / f"{name}.npy", rng.random((1, 2048)).astype(np.float32))
        row = {"segment": name, "clip_id": f"c{index // 2}", "split": "test" if index >= 4 else "train",
               "start_s": 2.0 * (index % 2), "end_s": 2.0 * (index % 2) + 2,
               "audio": f"d2m/audio_s2/{name}.wav", "motion": f"d2m/motion_s2/{name}.npy"}
        if songs:
            row["song_id"] = f"s{index // 2}"
        rows.append(row)
    pd.DataFrame(rows).to_csv(root / "segments.csv", index=False)
    return root
