"""Speed-invariant audio fingerprints: spectral peaks in a constant-Q spectrogram, hashed in quads.

Why this survives TikTok speed-ups: resampling by a factor ``a`` multiplies every time by ``1/a``
and every frequency by ``a``. On a log-frequency axis (CQT, in semitones) that is a shift by
``12*log2(a)``, so *differences* of peak frequencies do not change; and *ratios* of time differences do
not change under any time scaling (resampling or time-stretch). A quad is an anchor peak A and three
later peaks C, D, B (in time order); its hash packs the three frequency differences f_B-f_A, f_C-f_A,
f_D-f_A (whole semitones) and the two ratios (t_C-t_A)/(t_B-t_A), (t_D-t_A)/(t_B-t_A). Choosing the
three partners by *rank* (the next ``fan_out`` peaks in time) rather than by a time window keeps the
choice itself invariant to time scaling. (Idea after Sonnleitner & Widmer, "Robust quad-based audio
fingerprinting", IEEE/ACM TASLP 2016, here on a log-frequency axis so pitch shifts are translations.)

Each quad also keeps where it was found (anchor time, span t_B-t_A, anchor frequency): two matching
quads give the time scale (ratio of spans), the pitch shift (difference of anchor frequencies) and
the time offset that the alignment check (``match.py``) votes on.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import itertools
import os

import librosa
import numpy as np
import scipy.fft
import scipy.sparse
from scipy.ndimage import maximum_filter, uniform_filter
from scipy.signal import resample_poly

from tiktok_dm.model.atomic import atomic_write_bytes
from tiktok_dm.songs.config import SongsConfig

# Index triples (c, d, b) with c < d < b into an anchor's partner list: every quad of that anchor.
_TRIPLES_CACHE: dict[int, np.ndarray] = {}


@dataclasses.dataclass(frozen=True)
class Peaks:
    """Spectral peaks, sorted by (time, frequency): time in frames, frequency in semitones above fmin."""

    time: np.ndarray  # float32, interpolated frame index
    freq: np.ndarray  # float32, interpolated semitones
    strength: np.ndarray  # float32, dB above the bin's median


@dataclasses.dataclass(frozen=True)
class Quads:
    """Quads of one recording: hashes (one per quad, or several per quad when probing) and, per
    quad, where it sits: anchor time (frames), span t_B - t_A (frames), anchor frequency (semitones)."""

    hashes: np.ndarray  # uint32
    owner: np.ndarray  # int64, the quad each hash belongs to
    anchor: np.ndarray  # int64, peak index of each quad's anchor
    anchor_time: np.ndarray  # float32
    span: np.ndarray  # float32
    anchor_freq: np.ndarray  # float32


@dataclasses.dataclass(frozen=True)
class Fingerprints:
    """What a recording contributes: its spectral peaks (quads are derived from them on demand)."""

    peaks: Peaks
    duration_s: float

    def quads(self, config: SongsConfig, probe: bool = False) -> Quads:
        """Index side (``probe=False``): one hash per quad. Query side: also the neighbouring cells."""
        anchors, chosen = select_quads(self.peaks, config)
        values = quad_values(self.peaks, anchors, chosen, config)
        if probe:
            hashes, owner = probe_hashes(values, config)
        else:
            hashes, owner = pack(np.rint(values).astype(np.int64), config), np.arange(anchors.size)
        return Quads(hashes=hashes, owner=owner, anchor=anchors, anchor_time=self.peaks.time[anchors],
                     span=(self.peaks.time[chosen[:, 2]] - self.peaks.time[anchors]).astype(np.float32),
                     anchor_freq=self.peaks.freq[anchors])

    def save(self, target: str | os.PathLike) -> None:
        """Write the peaks as an .npz (atomic: no torn file)."""
        buffer = io.BytesIO()
        np.savez(buffer, time=self.peaks.time, freq=self.peaks.freq, strength=self.peaks.strength,
                 duration_s=np.float64(self.duration_s))
        atomic_write_bytes(target, buffer.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Fingerprints":
        """Read a file written by :meth:`save`."""
        with np.load(path) as stored:
            return cls(Peaks(time=stored["time"], freq=stored["freq"], strength=stored["strength"]),
                       duration_s=float(stored["duration_s"]))


def spectral_peaks(samples: np.ndarray, config: SongsConfig) -> Peaks:
    """Local maxima of the CQT that stand out from their surroundings, the strongest kept.

    Strength is the level (dB) above the mean level of the surrounding ``prominence_semitones`` x
    ``prominence_seconds``: a local statistic, so a clip cut from a song finds the same peaks as the
    whole song, and stationary noise and the spectral tilt do not decide which peaks win. Of the
    peaks within +-0.5 s of each other at most ``peaks_per_second`` (the strongest) are kept.
    """
    level = 20 * np.log10(cqt_magnitude(samples, config) + 1e-9)
    # What is far below the loudest moment (digital silence, fade tails) cannot hold a peak.
    floor = level.max() - 70.0
    level = np.maximum(level, floor)
    frames_per_s = config.sample_rate / config.hop_length
    surround = (_odd(config.prominence_semitones * config.bins_per_semitone),
                _odd(config.prominence_seconds * frames_per_s))
    prominence = level - uniform_filter(level, size=surround, mode="nearest")
    size = (2 * round(config.peak_semitones * config.bins_per_semitone) + 1,
            2 * max(1, round(config.peak_seconds * frames_per_s)) + 1)
    is_peak = (prominence == maximum_filter(prominence, size=size, mode="nearest"))
    is_peak &= (prominence >= config.peak_min_db) & (level > floor + 1.0)
    is_peak[[0, -1], :] = False
    is_peak[:, [0, -1]] = False
    f_idx, t_idx = np.nonzero(is_peak)
    strength = prominence[f_idx, t_idx]
    keep = strongest_nearby(t_idx, strength, frames_per_s, config.peaks_per_second,
                            f_idx / config.bins_per_semitone, config.peak_band_semitones)
    f_idx, t_idx, strength = f_idx[keep], t_idx[keep], strength[keep]
    freq = (f_idx + _parabolic(prominence[f_idx - 1, t_idx], strength, prominence[f_idx + 1, t_idx])) \
        / config.bins_per_semitone
    time = t_idx + _parabolic(prominence[f_idx, t_idx - 1], strength, prominence[f_idx, t_idx + 1])
    order = np.lexsort((freq, time))
    return Peaks(time=time[order].astype(np.float32), freq=freq[order].astype(np.float32),
                 strength=strength[order].astype(np.float32))


def cqt_magnitude(samples: np.ndarray, config: SongsConfig) -> np.ndarray:
    """|CQT| (bins x frames, frames centred every ``hop_length`` samples).

    The constant-Q filters (librosa's Hann-windowed wavelets) are applied in the frequency domain
    through sparse kernels (Brown & Puckette 1992) built once per setting; ``librosa.cqt`` rebuilds its
    filters on every call, which costs more than the transform itself for a short clip. The two lowest
    octaves, whose filters are long, are computed on the signal decimated by 4 (same frame times), so
    every frame needs only two FFTs of 2048 points instead of one of 8192.
    """
    rows = []
    for kernel, n_fft, factor in _cqt_groups(config.sample_rate, config.fmin_hz, config.n_octaves,
                                             config.bins_per_semitone):
        signal = samples if factor == 1 else resample_poly(samples, 1, factor)
        rows.append(_apply_kernel(signal.astype(np.float32), kernel, n_fft, config.hop_length // factor,
                                  1 + samples.size // config.hop_length))
    return np.vstack(rows)


def _apply_kernel(signal: np.ndarray, kernel, n_fft: int, hop: int, n_frames: int, chunk: int = 512) -> np.ndarray:
    padded = np.pad(signal, (n_fft // 2, n_fft // 2 + n_frames * hop))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    out = np.empty((kernel.shape[0], n_frames), np.float32)
    for first in range(0, n_frames, chunk):
        spectrum = scipy.fft.rfft(frames[first:first + chunk], axis=1)
        out[:, first:first + chunk] = np.abs(kernel @ spectrum.T)
    return out


@functools.lru_cache(maxsize=4)
def _cqt_groups(sample_rate: int, fmin_hz: float, n_octaves: int, bins_per_semitone: int) -> list:
    """[(sparse kernel, n_fft, decimation factor)] for the low octaves (decimated by 4) and the rest."""
    bins_per_octave = 12 * bins_per_semitone
    freqs = fmin_hz * 2.0 ** (np.arange(n_octaves * bins_per_octave) / bins_per_octave)
    low = min(2, n_octaves - 1) * bins_per_octave
    groups = []
    for part, factor in ((freqs[:low], 4), (freqs[low:], 1)):
        if part.size == 0:
            continue
        filters, _ = librosa.filters.wavelet(freqs=part, sr=sample_rate / factor, window="hann", pad_fft=True, norm=1)
        n_fft = filters.shape[1]
        kernel = np.conj(np.fft.fft(filters, axis=1))[:, : n_fft // 2 + 1] / n_fft
        kernel[np.abs(kernel) < 0.01 * np.abs(kernel).max(axis=1, keepdims=True)] = 0
        groups.append((scipy.sparse.csr_matrix(kernel.astype(np.complex64)), n_fft, factor))
    return groups


def _odd(width: float) -> int:
    return 2 * int(round(width / 2)) + 1


def _parabolic(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sub-bin offset of a maximum from its two neighbours (0 where a neighbour is -inf)."""
    left = np.where(np.isfinite(left), left, centre - 20.0)
    right = np.where(np.isfinite(right), right, centre - 20.0)
    denominator = left - 2 * centre + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(denominator < 0, 0.5 * (left - right) / denominator, 0.0)
    return np.clip(offset, -0.5, 0.5)


def strongest_nearby(t_idx: np.ndarray, strength: np.ndarray, frames_per_s: float, per_second: float,
                     freq: np.ndarray | None = None, band: float = 0.0) -> np.ndarray:
    """Indices of the peaks with fewer than ``per_second`` stronger peaks within +-0.5 s (and, when
    ``band`` > 0, within +-band/2 semitones of ``freq``: a budget per region of the spectrum)."""
    order = np.argsort(t_idx, kind="stable")
    times, values = t_idx[order], strength[order]
    lo = np.searchsorted(times, times - frames_per_s / 2, side="left")
    hi = np.searchsorted(times, times + frames_per_s / 2, side="right")
    width = int((hi - lo).max(initial=0))
    if width == 0:
        return order
    # Compare each peak with every peak of its window at once (windows hold at most a few hundred peaks).
    columns = np.minimum(lo[:, None] + np.arange(width)[None, :], values.size - 1)
    stronger = (values[columns] > values[:, None]) & (lo[:, None] + np.arange(width)[None, :] < hi[:, None])
    if band > 0 and freq is not None:
        semitones = freq[order]
        stronger &= np.abs(semitones[columns] - semitones[:, None]) <= band / 2
    return np.sort(order[stronger.sum(axis=1) < per_second])


def select_quads(peaks: Peaks, config: SongsConfig) -> tuple[np.ndarray, np.ndarray]:
    """(anchors, partners): ``partners[i]`` are the C, D, B peaks (in time order) of quad i.

    An anchor's partners are the ``fan_out`` strongest of its next ``partner_window`` peaks in time
    (within ``max_df_semitones`` and ``max_span_s``): rank and strength, unlike a window in seconds, do
    not change when time is scaled, and a weak peak gained or lost to noise rarely changes the choice.
    """
    n = peaks.time.size
    span = config.max_span_s * config.sample_rate / config.hop_length
    scan = min(n - 1, 6 * config.partner_window)
    if n < 4 or scan < config.fan_out:  # too few peaks for one anchor's fan-out
        return np.zeros(0, np.int64), np.zeros((0, 3), np.int64)
    anchor = np.arange(n)[:, None]
    cand = np.minimum(anchor + np.arange(1, scan + 1)[None, :], n - 1)
    dt = peaks.time[cand] - peaks.time[anchor]
    df = peaks.freq[cand] - peaks.freq[anchor]
    ok = (anchor + np.arange(1, scan + 1)[None, :] < n) & (dt >= 0.5) & (dt <= span) \
        & (np.abs(df) <= config.max_df_semitones)
    ok &= np.cumsum(ok, axis=1) <= config.partner_window
    # Strongest fan_out of the allowed candidates, then back in time order.
    score = np.where(ok, peaks.strength[cand], -np.inf)
    best = np.sort(np.argsort(-score, axis=1, kind="stable")[:, :config.fan_out], axis=1)
    picked = np.take_along_axis(cand, best, axis=1)
    full = np.isfinite(np.take_along_axis(score, best, axis=1)).all(axis=1)
    rows = np.nonzero(full)[0]
    triples = _triples(config.fan_out)
    return np.repeat(rows, len(triples)), picked[rows][:, triples].reshape(-1, 3)


def _triples(fan_out: int) -> np.ndarray:
    if fan_out not in _TRIPLES_CACHE:
        _TRIPLES_CACHE[fan_out] = np.array(list(itertools.combinations(range(fan_out), 3)), dtype=np.int64)
    return _TRIPLES_CACHE[fan_out]


def quad_values(peaks: Peaks, anchors: np.ndarray, chosen: np.ndarray, config: SongsConfig) -> np.ndarray:
    """The five invariant quantities of each quad, in units of their quantisation step, shape (n, 5)."""
    c, d, b = chosen[:, 0], chosen[:, 1], chosen[:, 2]
    ta, fa = peaks.time[anchors], peaks.freq[anchors]
    span = peaks.time[b] - ta
    step = config.freq_step
    return np.stack([
        (peaks.freq[b] - fa) / step, (peaks.freq[c] - fa) / step, (peaks.freq[d] - fa) / step,
        (peaks.time[c] - ta) / span * config.ratio_levels, (peaks.time[d] - ta) / span * config.ratio_levels,
    ], axis=1).astype(np.float32)


def pack(cells: np.ndarray, config: SongsConfig) -> np.ndarray:
    """Integer cells (n, 5) -> uint32 hashes."""
    f_max = int(round(config.max_df_semitones / config.freq_step))
    f_base = 2 * f_max + 1
    r_base = config.ratio_levels + 1
    df = np.clip(cells[:, :3] + f_max, 0, f_base - 1).astype(np.uint64)
    r = np.clip(cells[:, 3:], 0, r_base - 1).astype(np.uint64)
    value = ((df[:, 0] * f_base + df[:, 1]) * f_base + df[:, 2]) * r_base
    value = (value + r[:, 0]) * r_base + r[:, 1]
    return value.astype(np.uint32)


def fingerprint(samples: np.ndarray, config: SongsConfig) -> Fingerprints:
    return Fingerprints(peaks=spectral_peaks(samples, config), duration_s=samples.size / config.sample_rate)


def probe_hashes(values: np.ndarray, config: SongsConfig) -> tuple[np.ndarray, np.ndarray]:
    """Query-side hashes: each quad's own cell plus the neighbouring cells of its least certain values.

    Returns (hashes, quad index of each hash). A value within ``probe_margin`` of a cell border also
    probes the cell across that border; the two least certain values of a quad are probed this way,
    so a quad makes 1 to ``max_probes`` (at most 4) hashes.
    """
    cells = np.rint(values).astype(np.int64)
    residual = values - cells  # in [-0.5, 0.5]
    uncertain = np.abs(residual) > 0.5 - config.probe_margin
    n = values.shape[0]
    variants = [cells]
    owners = [np.arange(n)]
    if config.max_probes > 1 and n:
        # The two values nearest a border, per quad.
        closeness = np.where(uncertain, np.abs(residual), -1.0)
        order = np.argsort(-closeness, axis=1)[:, :2]
        step = np.sign(residual).astype(np.int64)
        rows = np.arange(n)
        for combo in ([0], [1], [0, 1])[: config.max_probes - 1]:
            flipped = cells.copy()
            valid = np.ones(n, dtype=bool)
            for which in combo:
                column = order[:, which]
                valid &= uncertain[rows, column]
                flipped[rows, column] += step[rows, column]
            variants.append(flipped[valid])
            owners.append(rows[valid])
    return pack(np.concatenate(variants), config), np.concatenate(owners)
