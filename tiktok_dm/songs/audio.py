"""Decode any audio or video file once, to mono float32 at the fingerprint sample rate.

Formats libsndfile reads (wav, flac, ogg, mp3) are read in-process: starting ffmpeg costs about
0.1 s per file, which is most of the fingerprint time of a short clip. Everything else (m4a, mp4,
webm, ...) is decoded by ffmpeg in one call that also drops video and resamples.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from tiktok_dm.media import ffmpeg_binary
from tiktok_dm.model.status import ErrorKind, StageError

_SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif"}
_STDERR_TAIL_CHARS = 400


def decode_mono(path: str | Path, sample_rate: int) -> np.ndarray:
    """Samples of ``path`` as mono float32 at ``sample_rate``; StageError if it cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise StageError(f"{path} does not exist", ErrorKind.UNREADABLE)
    if path.suffix.lower() in _SOUNDFILE_SUFFIXES:
        try:
            samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        except (RuntimeError, soundfile.LibsndfileError):
            pass  # a mislabelled container: let ffmpeg have a go
        else:
            return _resample(samples.mean(axis=1), rate, sample_rate)
    return _ffmpeg_decode(path, sample_rate)


def slowed_down(samples: np.ndarray, factor: float) -> np.ndarray:
    """``samples`` played ``factor`` times slower (resampled: tempo and pitch fall together), at the same rate."""
    ratio = Fraction(factor).limit_denominator(100)
    return resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)


def _resample(samples: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    if rate == sample_rate or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    ratio = Fraction(sample_rate, rate).limit_denominator(1000)
    return resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)


def _ffmpeg_decode(path: Path, sample_rate: int) -> np.ndarray:
    command = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
               "-vn", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-"]
    completed = subprocess.run(command, capture_output=True)
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip()
        if len(message) > _STDERR_TAIL_CHARS:
            message = "..." + message[-_STDERR_TAIL_CHARS:]
        raise StageError(f"cannot decode audio of {path.name}: {message or f'ffmpeg exit code {completed.returncode}'}",
                         ErrorKind.UNREADABLE)
    return np.frombuffer(completed.stdout, dtype=np.float32).copy()


def check_usable(samples: np.ndarray, sample_rate: int, name: str, min_duration_s: float,
                 silence_dbfs: float) -> None:
    """StageError for audio too short or too quiet to fingerprint, naming the measured value."""
    duration = samples.size / sample_rate
    if samples.size == 0:
        raise StageError(f"{name} has no audio samples", ErrorKind.NO_AUDIO)
    if duration < min_duration_s:
        raise StageError(f"{name} is too short to fingerprint: {duration:.2f} s < {min_duration_s:g} s",
                         ErrorKind.BAD_SPAN)
    peak = float(np.max(np.abs(samples)))
    peak_db = 20 * np.log10(peak) if peak > 0 else float("-inf")
    if peak_db < silence_dbfs:
        raise StageError(f"{name} is silent: peak level {peak_db:.1f} dBFS < {silence_dbfs:g} dBFS", ErrorKind.NO_AUDIO)
