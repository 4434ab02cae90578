"""Sound signals at a candidate cut: is the sound edited there, and does the song change or restart?

Four measures, each answering one question about the mono ~11 kHz signal:

- ``splice``: is there an edit exactly at the cut? Music changes gradually even at a note onset;
  an edit replaces every partial at once. The largest 23 ms-to-23 ms spectral change at the cut,
  as a robust z-score against the changes in the seconds around it.
- ``song_change``: is the music before different from the music after? 93 ms frames described
  three ways (40-band log-mel: loudness and instrumentation; 13 MFCCs: timbre; 12-bin chroma:
  harmony); the second before and the second after are compared with a kernel two-sample
  statistic (MMD, Gaussian kernel, width by the median heuristic per video): large for different
  music, small when one piece runs through, whatever its own variety. The mean of the three.
- ``repeat``: does the sound after the cut replay the start of the current clip? Two clips on
  one song usually both start the song at the same place.
- ``quietest_db``: is there a silence gap?

Only numpy is used: importing librosa costs seconds, more than analysing a minute of audio.
"""

from __future__ import annotations

import dataclasses

import numpy as np

N_FFT = 2048
HOP = 1024
N_MELS = 40
N_MFCC = 13
_EPS = 1e-10
# Frames quieter than this take no part in per-video normalisation (cards, fades).
_NORMALISE_FLOOR_DB = -50.0
# RMS level resolution for silence gaps.
_LEVEL_HOP_S = 0.02


@dataclasses.dataclass(frozen=True)
class AudioFeatures:
    samples: np.ndarray  # the mono signal itself (float32), for the splice test
    sample_rate: int
    frame_rate: float  # feature frames per second; frame j is centred on j / frame_rate
    groups: dict[str, np.ndarray]  # name -> (T, dims), normalised per video
    gammas: dict[str, float]  # Gaussian-kernel width per group (median heuristic)
    level_rate: float
    level_db: np.ndarray  # RMS level in dBFS on a fine grid (level_rate per second)

    @property
    def duration_s(self) -> float:
        return len(self.level_db) / self.level_rate


def audio_features(samples: np.ndarray, sample_rate: int) -> AudioFeatures:
    samples = np.asarray(samples, np.float32)
    padded = np.pad(samples, (N_FFT // 2, N_FFT // 2 + HOP))
    count = max(1, 1 + (len(samples)) // HOP)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:count]
    power = np.abs(np.fft.rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=1)) ** 2
    frame_db = 10 * np.log10(power.sum(axis=1) / (N_FFT * np.sum(np.hanning(N_FFT) ** 2) / 2) + _EPS)

    log_mel = np.log(power @ _mel_filters(sample_rate).T + _EPS)
    mfcc = log_mel @ _dct_matrix(N_MELS, N_MFCC + 1)[:, 1:]
    chroma = power @ _chroma_filters(sample_rate).T
    chroma /= np.linalg.norm(chroma, axis=1, keepdims=True) + _EPS

    loud = frame_db > _NORMALISE_FLOOR_DB
    reference = loud if loud.sum() >= 10 else np.ones(len(frame_db), bool)
    groups = {"mel": _standardise(log_mel, reference), "mfcc": _standardise(mfcc, reference), "chroma": chroma}
    gammas = {name: _median_heuristic(values[reference]) for name, values in groups.items()}

    hop = max(1, int(round(_LEVEL_HOP_S * sample_rate)))
    blocks = len(samples) // hop
    rms = np.sqrt(np.mean(samples[: blocks * hop].reshape(blocks, hop) ** 2, axis=1)) if blocks else np.zeros(0)
    return AudioFeatures(samples, sample_rate, sample_rate / HOP,
                         {k: v.astype(np.float32) for k, v in groups.items()}, gammas, sample_rate / hop,
                         20 * np.log10(rms + _EPS))


def song_change(features: AudioFeatures, time_s: float, window_s: float, earliest_s: float = 0.0,
                latest_s: float = np.inf, guard_s: float = 0.1) -> float:
    """Mean MMD between the audio before and after ``time_s`` (windows clipped to [earliest_s, latest_s]).

    NaN when either side has fewer than three frames (too close to the start, end or a neighbour).
    """
    rate = features.frame_rate
    total = len(next(iter(features.groups.values())))
    lo = int(np.ceil(max(time_s - window_s, earliest_s) * rate))
    before_stop = int(np.floor((time_s - guard_s) * rate)) + 1
    after_start = int(np.ceil((time_s + guard_s) * rate))
    hi = int(np.floor(min(time_s + window_s, latest_s) * rate)) + 1
    lo, before_stop, after_start, hi = max(lo, 0), min(before_stop, total), max(after_start, 0), min(hi, total)
    if before_stop - lo < 3 or hi - after_start < 3:
        return float("nan")
    scores = [_mmd(values[lo:before_stop], values[after_start:hi], features.gammas[name])
              for name, values in features.groups.items()]
    return float(np.mean(scores))


def splice(features: AudioFeatures, search_from_s: float, search_to_s: float, earliest_s: float = 0.0,
           latest_s: float = np.inf) -> tuple[float, float]:
    """How abruptly the sound changes within [search_from_s, search_to_s], against the seconds around it.

    The spectrum of each 23 ms is compared with the next 23 ms (mean absolute dB change over all
    frequencies). Music changes gradually even at a note onset; an edit replaces every partial at
    once. The score is the largest change inside the search window, as a robust z-score against
    the changes up to 2 s either side (median 0, 90th percentile 1), so it means the same in loud,
    quiet, busy and calm music. Returns (score, time of that change); the score is NaN when there
    is less than half a second of context.
    """
    rate = features.sample_rate
    size, hop = max(32, round(_SPLICE_WINDOW_S * rate)), max(4, round(_SPLICE_HOP_S * rate))
    lo_s = max(earliest_s, search_from_s - _SPLICE_CONTEXT_S, 0.0)
    hi_s = min(latest_s, search_to_s + _SPLICE_CONTEXT_S, len(features.samples) / rate)
    segment = features.samples[int(lo_s * rate): int(hi_s * rate)]
    lag = max(1, round(_SPLICE_WINDOW_S / _SPLICE_HOP_S))  # compare each window with the next one
    if len(segment) < size + lag * hop:
        return float("nan"), float("nan")
    frames = np.lib.stride_tricks.sliding_window_view(segment, size)[::hop]
    spectrum = 20 * np.log10(np.abs(np.fft.rfft(frames * np.hanning(size).astype(np.float32), axis=1)) + 1e-5)
    spectrum = np.maximum(spectrum, spectrum.max() - 70.0)
    change = np.abs(spectrum[lag:] - spectrum[:-lag]).mean(axis=1)
    times = lo_s + (np.arange(len(change)) * hop + size / 2 + lag * hop / 2) / rate
    inside = (times >= search_from_s) & (times <= search_to_s)
    context = (times < search_from_s - 0.1) | (times > search_to_s + 0.1)
    if not inside.any() or context.sum() * hop / rate < 0.5:
        return float("nan"), float("nan")
    best = np.flatnonzero(inside)[np.argmax(change[inside])]
    median, high = np.median(change[context]), np.percentile(change[context], 90)
    return float((change[best] - median) / (high - median + 1e-6)), float(times[best])


_SPLICE_WINDOW_S, _SPLICE_HOP_S = 0.0232, 0.0029  # 256 and 32 samples at 11025 Hz
_SPLICE_CONTEXT_S = 2.0


def repeat(features: AudioFeatures, time_s: float, reference_s: float, skip_s: float = 0.15,
           window_s: float = 2.0, search_s: float = 0.75) -> float:
    """Does the sound after ``time_s`` replay the sound after ``reference_s`` (the clip's start)?

    The best correlation (over shifts of up to ``search_s`` either way, in 12 ms steps) between
    the log-mel spectrogram of the ``window_s`` from ``time_s + skip_s`` and the one from
    ``reference_s + skip_s`` (skip a cross-fade at the clip's start: its sound is a mix).
    A song restarting from where the previous clip started scores ~0.99 (the same recording); a
    song running on, another song or another part of the same song scores below ~0.95. NaN when
    there is not enough sound on either side.
    """
    rate = features.sample_rate
    size, hop = max(64, round(_REPEAT_WINDOW_S * rate)), max(8, round(_REPEAT_HOP_S * rate))
    after = features.samples[int((time_s + skip_s) * rate): int((time_s + skip_s + window_s) * rate) + size]
    lo = max(0.0, reference_s + skip_s - search_s)
    earlier = features.samples[int(lo * rate): int((reference_s + skip_s + search_s + window_s) * rate) + size]
    if len(after) < size + int(window_s * rate) or len(earlier) < len(after):
        return float("nan")
    filters = _mel_filters(rate, n_fft=size)
    query, pool = _log_mel(after, size, hop, filters), _log_mel(earlier, size, hop, filters)
    query = query - query.mean()
    windows = np.lib.stride_tricks.sliding_window_view(pool, query.shape, axis=(0, 1))[:, 0]  # (shifts, T, mels)
    windows = windows - windows.mean(axis=(1, 2), keepdims=True)
    numerator = (windows * query).sum(axis=(1, 2))
    denominator = np.sqrt((windows ** 2).sum(axis=(1, 2)) * (query ** 2).sum()) + _EPS
    return float((numerator / denominator).max())


_REPEAT_WINDOW_S, _REPEAT_HOP_S = 0.0464, 0.0116  # 512 and 128 samples at 11025 Hz


def _log_mel(samples: np.ndarray, size: int, hop: int, filters: np.ndarray) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(samples, size)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(size).astype(np.float32), axis=1)) ** 2
    return np.log(power @ filters.T + _EPS)


def quietest_db(features: AudioFeatures, time_s: float, half_window_s: float, span_s: float = 0.2) -> float:
    """The lowest ``span_s`` RMS level (dBFS) within ``half_window_s`` of ``time_s``."""
    rate = features.level_rate
    lo = max(0, int((time_s - half_window_s) * rate))
    hi = min(len(features.level_db), int((time_s + half_window_s) * rate) + 1)
    if hi <= lo:
        return 0.0
    power = 10 ** (features.level_db[lo:hi] / 10)
    width = max(1, int(round(span_s * rate)))
    if len(power) < width:
        return float(10 * np.log10(power.mean() + _EPS))
    mean = np.convolve(power, np.ones(width) / width, mode="valid")
    return float(10 * np.log10(mean.min() + _EPS))


def change_curve(features: AudioFeatures, times: np.ndarray, window_s: float) -> np.ndarray:
    """song_change at each of ``times`` (for plots)."""
    return np.array([song_change(features, t, window_s) for t in times], np.float32)


def _mmd(a: np.ndarray, b: np.ndarray, gamma: float) -> float:
    def kernel_mean(x: np.ndarray, y: np.ndarray) -> float:
        distances = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
        return float(np.exp(-gamma * np.maximum(distances, 0.0)).mean())

    return kernel_mean(a, a) + kernel_mean(b, b) - 2 * kernel_mean(a, b)


def _standardise(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    centre = np.median(values[reference], axis=0)
    scale = values[reference].std(axis=0) + 1e-6
    return (values - centre) / scale


def _median_heuristic(values: np.ndarray, sample: int = 400) -> float:
    if len(values) < 2:
        return 1.0
    picked = values[np.linspace(0, len(values) - 1, min(sample, len(values))).astype(int)]
    distances = ((picked[:, None, :] - picked[None, :, :]) ** 2).sum(-1)
    median = float(np.median(distances[np.triu_indices(len(picked), 1)]))
    return 1.0 / median if median > 0 else 1.0


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10 ** (np.asarray(mel) / 2595.0) - 1.0)


def _mel_filters(sample_rate: int, fmin: float = 60.0, fmax: float = 5000.0, n_fft: int = N_FFT) -> np.ndarray:
    fmax = min(fmax, sample_rate / 2)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), N_MELS + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def _chroma_filters(sample_rate: int, fmin: float = 80.0, fmax: float = 5000.0) -> np.ndarray:
    bins = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate)
    usable = (bins >= fmin) & (bins <= min(fmax, sample_rate / 2))
    semitone = 12 * np.log2(np.where(usable, bins, 1.0) / 440.0) + 69
    distance = (semitone[None, :] - np.arange(12)[:, None] + 6) % 12 - 6  # to each pitch class, in semitones
    weights = np.exp(-0.5 * (distance / 0.5) ** 2) * usable[None, :]
    return weights.astype(np.float32)


def _dct_matrix(size: int, count: int) -> np.ndarray:
    n = np.arange(size)[:, None]
    k = np.arange(count)[None, :]
    return (np.cos(np.pi / size * (n + 0.5) * k) * np.sqrt(2.0 / size)).astype(np.float32)
