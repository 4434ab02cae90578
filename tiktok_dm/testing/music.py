"""Synthesised songs for the demo: drums on the beat, a bass line and a melody, distinct per seed."""

from __future__ import annotations

import numpy as np

# Semitone offsets of a minor pentatonic scale.
_SCALE = np.array([0, 3, 5, 7, 10, 12])


def synth_song(seconds: float, sample_rate: int, bpm: float, root_hz: float, seed: int) -> np.ndarray:
    """Mono float32 in [-1, 1]: a kick on every beat, hi-hats on off-beats, bass and melody notes."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    beat = 60.0 / bpm
    song = np.zeros(n, dtype=np.float64)
    for start in np.arange(0.0, seconds, beat):
        song += _kick(t, start)
        song += 0.15 * _hat(t, start + beat / 2, rng)
    melody = rng.choice(_SCALE, size=int(np.ceil(seconds / (beat / 2))) + 1)
    for index, start in enumerate(np.arange(0.0, seconds, beat / 2)):
        song += 0.25 * _note(t, start, beat / 2, root_hz * 2 ** (melody[index] / 12) * 2)
    for index, start in enumerate(np.arange(0.0, seconds, 2 * beat)):
        song += 0.35 * _note(t, start, 2 * beat, root_hz * 2 ** (melody[index % len(melody)] / 12) / 2)
    return (0.9 * song / np.max(np.abs(song))).astype(np.float32)


def _envelope(t: np.ndarray, start: float, decay_s: float) -> np.ndarray:
    local = t - start
    return np.where(local >= 0, np.exp(-np.clip(local, 0, None) / decay_s), 0.0)


def _kick(t: np.ndarray, start: float) -> np.ndarray:
    local = np.clip(t - start, 0, None)
    return _envelope(t, start, 0.08) * np.sin(2 * np.pi * (50 + 100 * np.exp(-local / 0.03)) * local)


def _hat(t: np.ndarray, start: float, rng: np.random.Generator) -> np.ndarray:
    return _envelope(t, start, 0.02) * rng.uniform(-1, 1, size=t.shape)


def _note(t: np.ndarray, start: float, length: float, frequency: float) -> np.ndarray:
    local = t - start
    gate = (local >= 0) & (local < length)
    return np.where(gate, np.sin(2 * np.pi * frequency * local) * np.exp(-np.clip(local, 0, None) / length), 0.0)
