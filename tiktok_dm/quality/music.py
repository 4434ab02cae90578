"""Music beats and onsets (librosa), loudness and silent stretches of a clip's audio."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from tiktok_dm.quality.config import AudioCheckConfig, MusicConfig
from tiktok_dm.quality.kinematic import QAError


@dataclasses.dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # mono float32 in [-1, 1]
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def load_audio(path: str | os.PathLike) -> Audio:
    """A wav (or any file libsndfile reads) as mono float32."""
    import soundfile

    try:
        samples, sample_rate = soundfile.read(os.fspath(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as error:  # soundfile.LibsndfileError is a RuntimeError
        raise QAError(f"cannot read audio {path}: {error}") from error
    if len(samples) == 0:
        raise QAError(f"audio {path} is empty")
    return Audio(samples.mean(axis=1), int(sample_rate))


@dataclasses.dataclass(frozen=True)
class MusicEvents:
    beats: np.ndarray  # seconds (librosa.beat.beat_track)
    tempo_bpm: float
    onset_times: np.ndarray  # seconds of each onset-envelope frame
    onset_strength: np.ndarray  # librosa.onset.onset_strength


def music_events(audio: Audio, config: MusicConfig = MusicConfig()) -> MusicEvents:
    import librosa

    y = audio.samples.astype(np.float32)
    strength = librosa.onset.onset_strength(y=y, sr=audio.sample_rate, hop_length=config.hop_length)
    tempo, beats = librosa.beat.beat_track(onset_envelope=strength, sr=audio.sample_rate,
                                           hop_length=config.hop_length, units="time")
    times = np.arange(len(strength)) * config.hop_length / audio.sample_rate
    return MusicEvents(np.asarray(beats, dtype=np.float64), float(np.atleast_1d(tempo)[0]), times,
                       np.asarray(strength, dtype=np.float64))


@dataclasses.dataclass(frozen=True)
class AudioLevels:
    loudness_dbfs: float  # RMS level of the whole clip
    peak_dbfs: float
    clipped_share: float  # share of samples at full scale
    silent_stretches: tuple[tuple[float, float], ...]  # (start_s, end_s) of silences >= min_silence_s

    @property
    def silent_s(self) -> float:
        return float(sum(end - start for start, end in self.silent_stretches))


def audio_levels(audio: Audio, config: AudioCheckConfig = AudioCheckConfig()) -> AudioLevels:
    """Whole-clip RMS and peak level, clipping, and the silent stretches (windows of
    ``window_s`` every ``hop_s`` below ``silence_dbfs``, joined, kept if >= ``min_silence_s``)."""
    y = audio.samples.astype(np.float64)
    power = float(np.mean(y ** 2))
    loudness = _db(power)
    peak = 20 * np.log10(max(float(np.abs(y).max()), 1e-10))
    window = max(1, int(round(config.window_s * audio.sample_rate)))
    hop = max(1, int(round(config.hop_s * audio.sample_rate)))
    starts = np.arange(0, max(1, len(y) - window + 1), hop)
    cumulative = np.concatenate([[0.0], np.cumsum(y ** 2)])
    ends = np.minimum(starts + window, len(y))
    levels = np.array([_db((cumulative[e] - cumulative[s]) / max(1, e - s)) for s, e in zip(starts, ends)])
    silent = levels < config.silence_dbfs
    stretches = []
    index = 0
    while index < len(silent):
        if not silent[index]:
            index += 1
            continue
        first = index
        while index < len(silent) and silent[index]:
            index += 1
        start_s = starts[first] / audio.sample_rate
        end_s = ends[index - 1] / audio.sample_rate
        if end_s - start_s >= config.min_silence_s:
            stretches.append((round(float(start_s), 3), round(float(end_s), 3)))
    clipped = float(np.mean(np.abs(y) >= 0.999))
    return AudioLevels(round(loudness, 2), round(float(peak), 2), clipped, tuple(stretches))


def _db(power: float) -> float:
    return float(10 * np.log10(max(power, 1e-20)))
