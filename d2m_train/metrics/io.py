"""Reading evaluation inputs: genre label files and folders of segment wavs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def read_genres(path: str | Path) -> dict[str, str]:
    """``file,genre`` CSV -> {file name: genre}; names a bad file or a missing column."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"file", "genre"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected file,genre")
    empty = table[table["genre"].str.strip() == ""]
    if len(empty):
        raise ValueError(f"{path}: no genre on line(s) {[i + 2 for i in empty.index]}")
    return {Path(name).name: genre for name, genre in zip(table["file"], table["genre"])}


def embed_folder(folder: str | Path, embedder, genres: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    """Embed every wav of ``folder`` that has a genre; a wav without one is an error naming it."""
    import librosa

    files = sorted(Path(folder).glob("*.wav"))
    if not files:
        raise FileNotFoundError(f"no .wav files in {folder}")
    unlabelled = [f.name for f in files if f.name not in genres]
    if unlabelled:
        raise ValueError(f"{folder}: no genre for {unlabelled}")
    vectors = [embedder.embed(librosa.load(f, sr=embedder.sample_rate)[0], embedder.sample_rate) for f in files]
    return np.stack(vectors), [f.name for f in files]


def aist_genres_from_names(folder: str | Path) -> dict[str, str]:
    """{wav name: AIST++ genre code} read from segment names such as ``gBR_sBM_c01_d04_mBR0_ch01_seg1.wav``."""
    from d2m_train.data.loading import AIST_GENRES

    files = sorted(Path(folder).glob("*.wav"))
    if not files:
        raise FileNotFoundError(f"no .wav files in {folder}")
    bad = [f.name for f in files if not (f.name.startswith("g") and f.name[1:3] in AIST_GENRES)]
    if bad:
        raise ValueError(f"{folder}: {bad[:5]} do not start with an AIST++ genre code (g{'/g'.join(AIST_GENRES)}); "
                         "give a file,genre CSV instead")
    return {f.name: f.name[1:3] for f in files}
