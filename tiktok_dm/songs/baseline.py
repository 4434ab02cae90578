"""Baseline for the benchmark: a classic landmark fingerprinter in the audfprint / dejavu style.

Peaks of a linear-frequency STFT are paired (anchor, one of its next ``fan_out`` peaks within a
target zone); a landmark hashes (anchor frequency bin, frequency difference, time difference in
frames); a match is the largest number of landmark hits that agree on one time offset. Exactly what
a speed change breaks: it moves every frequency bin and scales every time difference.
"""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np
from scipy.ndimage import maximum_filter


@dataclasses.dataclass
class LandmarkConfig:
    sample_rate: int = 11025
    n_fft: int = 512
    hop_length: int = 256
    peak_bins: int = 7  # +- frequency bins of a peak's neighbourhood
    peak_frames: int = 5  # +- frames
    peaks_per_second: int = 30
    fan_out: int = 5
    max_dt: int = 63  # frames (1.5 s)
    max_df: int = 31  # bins
    # Hits on one offset needed for a match (calibrated like ours, on SuperTux clips).
    min_score: int = 16


@dataclasses.dataclass(frozen=True)
class Landmarks:
    hashes: np.ndarray  # uint32
    times: np.ndarray  # int32 anchor frame


def landmarks(samples: np.ndarray, config: LandmarkConfig) -> Landmarks:
    spectrum = np.abs(librosa.stft(samples, n_fft=config.n_fft, hop_length=config.hop_length))
    level = librosa.amplitude_to_db(spectrum, ref=np.max, top_db=70.0)
    local = maximum_filter(level, size=(2 * config.peak_bins + 1, 2 * config.peak_frames + 1), mode="constant",
                           cval=-np.inf)
    f_idx, t_idx = np.nonzero((level == local) & (level > level.min() + 10))
    strength = level[f_idx, t_idx]
    frames_per_s = config.sample_rate / config.hop_length
    second = (t_idx / frames_per_s).astype(np.int64)
    order = np.lexsort((-strength, second))
    rank = np.arange(order.size) - np.searchsorted(second[order], second[order], side="left")
    keep = np.sort(order[rank < config.peaks_per_second])
    f_idx, t_idx = f_idx[keep], t_idx[keep]
    order = np.lexsort((f_idx, t_idx))
    f_idx, t_idx = f_idx[order].astype(np.int64), t_idx[order].astype(np.int64)
    hashes, times = [], []
    for step in range(1, 4 * config.fan_out):
        if step >= f_idx.size:
            break
        df = f_idx[step:] - f_idx[:-step]
        dt = t_idx[step:] - t_idx[:-step]
        ok = (dt >= 1) & (dt <= config.max_dt) & (np.abs(df) <= config.max_df)
        anchors = np.nonzero(ok)[0]
        hashes.append((f_idx[anchors] << 12) | ((df[anchors] + config.max_df) << 6) | dt[anchors])
        times.append(t_idx[anchors])
    if not hashes:
        return Landmarks(np.zeros(0, np.uint32), np.zeros(0, np.int32))
    # At most fan_out pairs per anchor: keep the nearest partners (the loop above went outwards).
    all_hashes, all_times = np.concatenate(hashes), np.concatenate(times)
    order = np.argsort(all_times, kind="stable")
    all_hashes, all_times = all_hashes[order], all_times[order]
    rank = np.arange(all_times.size) - np.searchsorted(all_times, all_times, side="left")
    keep = rank < config.fan_out
    return Landmarks(all_hashes[keep].astype(np.uint32), all_times[keep].astype(np.int32))


class LandmarkIndex:
    """In-memory hash -> (item, time) table, rebuilt lazily after additions."""

    def __init__(self, config: LandmarkConfig | None = None):
        self.config = config or LandmarkConfig()
        self.keys: list[str] = []
        self._parts: list[Landmarks] = []
        self._table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, key: str, marks: Landmarks) -> None:
        self.keys.append(key)
        self._parts.append(marks)
        self._table = None

    def _sorted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._table is None:
            hashes = np.concatenate([p.hashes for p in self._parts])
            items = np.concatenate([np.full(p.hashes.size, i, np.int64) for i, p in enumerate(self._parts)])
            times = np.concatenate([p.times for p in self._parts]).astype(np.int64)
            order = np.argsort(hashes, kind="stable")
            self._table = (hashes[order], items[order], times[order])
        return self._table

    def query(self, marks: Landmarks, min_score: int | None = None,
              exclude: str | None = None) -> list[tuple[str, int]]:
        """(key, score) of stored items with at least ``min_score`` hits on one offset, best first."""
        hashes, items, times = self._sorted()
        lo = np.searchsorted(hashes, marks.hashes, "left")
        hi = np.searchsorted(hashes, marks.hashes, "right")
        count = hi - lo
        total = int(count.sum())
        if total == 0:
            return []
        row = np.repeat(np.arange(marks.hashes.size), count)
        posting = np.repeat(lo, count) + (np.arange(total) - np.repeat(np.cumsum(count) - count, count))
        offset = times[posting] - marks.times[row].astype(np.int64)
        key = items[posting] * 1_000_000 + (offset + 500_000)
        cells, counts = np.unique(key, return_counts=True)
        # Allow one frame of jitter: count each offset together with its right neighbour.
        neighbour = np.minimum(np.searchsorted(cells, cells + 1), cells.size - 1)
        counts = counts + np.where(cells[neighbour] == cells + 1, counts[neighbour], 0)
        item = cells // 1_000_000
        order = np.lexsort((-counts, item))
        first = np.ones(order.size, bool)
        first[1:] = item[order][1:] != item[order][:-1]
        best = zip(item[order][first].tolist(), counts[order][first].tolist())
        threshold = self.config.min_score if min_score is None else min_score
        found = [(self.keys[i], c) for i, c in best if c >= threshold and self.keys[i] != exclude]
        return sorted(found, key=lambda kc: (-kc[1], kc[0]))
