"""Genre accuracy by retrieval, as the D2M-GAN paper describes it (no official code exists).

Each generated segment is embedded, its nearest neighbour (Euclidean) is looked up in a database
of real segments of the same length, and the query counts as correct when the retrieved
segment's genre equals the query's (dance) genre. Accuracy = correct / queries.

The paper embeds with VGGish (AudioSet-pretrained). Those weights cannot be fetched here, so the
offline default is ``MfccStatsEmbedder``; ``VGGishEmbedder`` (d2m_train/metrics/vggish.py) runs the real VGGish
network with weights from a path you give. Every reported number names the embedder it used.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np


class Embedder(Protocol):
    name: str
    sample_rate: int  # the rate ``embed`` wants (audio is loaded at it)
    # Z-score each dimension (over queries + database) before the Euclidean distance: for features of unlike scales.
    # The paper retrieves by plain Euclidean distance between VGGish embeddings.
    standardise: bool

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """One fixed-size vector for a mono segment."""
        ...


class MfccStatsEmbedder:
    """Mean and standard deviation over time of 20 MFCCs at 16 kHz (VGGish's rate), z-scored per
    dimension by ``genre_accuracy`` over query + database (``standardise``). Offline, deterministic, NOT VGGish."""

    name = "mfcc-stats-20 (offline default, not VGGish)"
    sample_rate = 16000
    standardise = True  # MFCC 0 spans hundreds, the others units: unscaled, it alone would decide

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        import librosa

        if sample_rate != self.sample_rate:
            audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=self.sample_rate)
        mfcc = librosa.feature.mfcc(y=audio, sr=self.sample_rate, n_mfcc=20)
        return np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class GenreAccuracy:
    correct: int
    total: int
    embedder: str
    nearest: tuple[int, ...] = ()  # per query, the index of the retrieved database segment
    standardised: bool = False  # distances on z-scored dimensions (else plain Euclidean, the paper's)

    @property
    def distance(self) -> str:
        return "euclidean on z-scored dimensions" if self.standardised else "euclidean"

    @property
    def accuracy(self) -> float:
        return self.correct / self.total


def genre_accuracy(query_embeddings: np.ndarray, query_genres: Sequence[str], database_embeddings: np.ndarray,
                   database_genres: Sequence[str], embedder_name: str, standardise: bool = False) -> GenreAccuracy:
    """Nearest-neighbour genre match rate of the queries against the database: plain Euclidean distance (the
    paper's), or on z-scored dimensions with ``standardise``."""
    queries, database = np.asarray(query_embeddings, np.float64), np.asarray(database_embeddings, np.float64)
    if queries.ndim != 2 or database.ndim != 2 or queries.shape[1] != database.shape[1]:
        raise ValueError(f"embeddings must be [n, d] with one d: got queries {queries.shape}, "
                         f"database {database.shape}")
    if len(query_genres) != len(queries) or len(database_genres) != len(database):
        raise ValueError(f"{len(queries)} queries with {len(query_genres)} genres, {len(database)} database "
                         f"segments with {len(database_genres)} genres: one genre per segment is needed")
    if len(database) == 0 or len(queries) == 0:
        raise ValueError("genre accuracy needs at least one query and one database segment")
    if standardise:  # no single dimension (an MFCC coefficient) dominates the distance
        both = np.concatenate([queries, database])
        mean, std = both.mean(axis=0), both.std(axis=0) + 1e-8
        queries, database = (queries - mean) / std, (database - mean) / std
    distances = ((queries[:, None, :] - database[None, :, :]) ** 2).sum(axis=-1)
    nearest = distances.argmin(axis=1)
    correct = sum(str(query_genres[i]) == str(database_genres[j]) for i, j in enumerate(nearest))
    return GenreAccuracy(int(correct), len(queries), embedder_name, tuple(int(j) for j in nearest), standardise)


@dataclasses.dataclass(frozen=True)
class GenreQuery:
    """One generated segment: its label, the database segment retrieved for it and that segment's label."""

    query: str
    label: str
    nearest: str
    nearest_label: str

    @property
    def correct(self) -> bool:
        return self.label == self.nearest_label


def folder_genre_accuracy(generated: str | Path, database: str | Path, embedder: Embedder,
                          generated_genres: str | Path | None = None,
                          database_genres: str | Path | None = None) -> tuple[GenreAccuracy, list[GenreQuery]]:
    """Genre accuracy of the wavs in ``generated`` against the wavs in ``database``. Labels come from
    ``file,genre`` CSVs when given, else from the AIST++ genre code in each file name."""
    from d2m_train.metrics.io import aist_genres_from_names, embed_folder, read_genres

    query_genres = read_genres(generated_genres) if generated_genres else aist_genres_from_names(generated)
    db_genres = read_genres(database_genres) if database_genres else aist_genres_from_names(database)
    queries, query_names = embed_folder(generated, embedder, query_genres)
    db, db_names = embed_folder(database, embedder, db_genres)
    result = genre_accuracy(queries, [query_genres[n] for n in query_names], db, [db_genres[n] for n in db_names],
                            embedder.name, standardise=embedder.standardise)
    rows = [GenreQuery(q, query_genres[q], db_names[j], db_genres[db_names[j]])
            for q, j in zip(query_names, result.nearest)]
    return result, rows


def get_embedder(vggish: str | None = None, device: str = "cpu") -> Embedder:
    """VGGish with the weights at ``vggish`` when given, else the offline MFCC-statistics default."""
    if vggish:
        from d2m_train.metrics.vggish import VGGishEmbedder

        return VGGishEmbedder(vggish, device=device)
    return MfccStatsEmbedder()
