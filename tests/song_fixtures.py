"""Small real-music clips for the song-fingerprint tests (Wesnoth tracks, cut and transformed)."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile

from tiktok_dm.testing import audio_edits as degrade

RATE = 22050
# Long Wesnoth tracks with distinct music; the first three form the test library.
SONGS = ("the_deep_path", "wanderer", "northerners", "knolls", "vengeful")


class SongSource:
    """Decoded excerpts of the test songs, decoded once per session."""

    def __init__(self, music_files: list[Path]):
        by_name = {p.stem: p for p in music_files}
        missing = [s for s in SONGS if s not in by_name]
        if missing:
            pytest.skip(f"Wesnoth tracks {missing} are not installed")
        self.paths = {s: by_name[s] for s in SONGS}
        self._audio: dict[str, np.ndarray] = {}

    def audio(self, song: str, seconds: float = 100.0) -> np.ndarray:
        """The first ``seconds`` of ``song`` (mono, RATE)."""
        if song not in self._audio:
            with soundfile.SoundFile(str(self.paths[song])) as track:
                head = track.read(int(100.0 * track.samplerate), dtype="float32", always_2d=True).mean(axis=1)
                self._audio[song] = librosa.resample(head, orig_sr=track.samplerate, target_sr=RATE)
        return self._audio[song][: int(seconds * RATE)]

    def excerpt(self, song: str, start: float, duration: float) -> np.ndarray:
        return self.audio(song)[int(start * RATE): int((start + duration) * RATE)].copy()


def write(folder: Path, name: str, samples: np.ndarray, suffix: str = ".flac") -> Path:
    """Write ``samples`` as ``folder/name+suffix`` (lossy suffixes at 48 kbps through ffmpeg)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}{suffix}"
    if suffix in (".flac", ".wav"):
        soundfile.write(path, samples, RATE)
    else:
        degrade.write_encoded(samples, RATE, path, 48)
    return path


def transform(family: str, samples: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str, float, float]:
    """(samples, file suffix, expected speed, expected pitch shift) of one named transformation."""
    rng = np.random.default_rng(seed)
    speed, pitch, suffix = 1.0, 0.0, ".flac"
    kind, _, value = family.partition(":")
    if kind == "resample":
        speed = float(value)
        pitch = 12 * np.log2(speed)
        samples = degrade.resample_speed(samples, RATE, speed)
    elif kind == "stretch":
        speed = float(value)
        samples = degrade.time_stretch(samples, speed)
    elif kind == "pitch":
        pitch = float(value)
        samples = degrade.pitch_shift(samples, RATE, pitch)
    elif kind == "noise":
        samples = degrade.add_noise(samples, float(value), rng, "pink")
    elif kind == "speech":
        samples, _ = degrade.mix_speech(samples, RATE, float(value), rng)
    elif kind == "reencode":
        suffix = value
    elif kind == "gain":
        samples = degrade.gain_changes(samples, RATE, rng, -20.0, 10.0)
    elif kind == "fade":
        samples = degrade.fades(samples, RATE, 3.0, 3.0)
    elif kind == "combined":
        speed = float(value)
        pitch = 12 * np.log2(speed)
        samples = degrade.resample_speed(samples, RATE, speed)
        samples, _ = degrade.mix_speech(samples, RATE, 3.0, rng)
        samples = degrade.fades(degrade.gain_changes(samples, RATE, rng, -10.0, 6.0), RATE, 1.0, 1.0)
        suffix = ".m4a"
    elif kind == "tiktok":  # sped up, talked over as loud as the music, noise, AAC: the hardest TikTok edit
        speed = float(value)
        pitch = 12 * np.log2(speed)
        samples = degrade.resample_speed(samples, RATE, speed)
        samples, _ = degrade.mix_speech(samples, RATE, 0.0, rng)
        samples = degrade.add_noise(samples, 5.0, rng, "pink")
        suffix = ".m4a"
    elif kind != "clean":
        raise ValueError(family)
    return samples.astype(np.float32), suffix, speed, pitch
