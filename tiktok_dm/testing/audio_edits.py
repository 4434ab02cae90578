"""What TikTok does to a song, as functions: speed change, stretch, pitch shift, noise, talking,
low-bitrate re-encoding, gain changes and fades. Used by ``bench/songs.py`` and the tests.

All functions take and return mono float32 samples; randomness comes from the ``rng`` passed in.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile

from tiktok_dm.media import run_ffmpeg, system_ffmpeg
from tiktok_dm.songs.audio import decode_mono

SPEECH_WORDS = ("okay so this is the part everybody gets wrong watch my feet wait for it now turn around and "
                "clap I have been practising one three weeks still mess up tag a friend who would do with you "
                "left right spin hit pose song stuck in head all day long comment if want tutorial second half "
                "little brother learned faster than me can believe that again slow down look here trend try "
                "yesterday tomorrow camera light outside kitchen music loud sorry wrong step almost done").split()
ESPEAK_VOICES = ["en-us", "en", "en-gb-x-rp", "de", "fr", "es", "it"]
# Other voices, for material the fingerprint settings were not chosen on: other languages, female and male variants.
HELD_OUT_VOICES = ["pt+f2", "nl+f3", "pl+m4", "sv+f4", "cs+m2", "ro+f1"]
# And others again, for the split made after HELD_OUT_VOICES' splits had been studied (bench/songs.py held_out_c).
HELD_OUT_C_VOICES = ["hu+m3", "fi+f2", "tr+m1", "id+f1", "da+m2", "hr+f3"]


def resample_speed(samples: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    """Play ``factor`` times faster by resampling: tempo and pitch change together (TikTok speed-up)."""
    return librosa.resample(samples, orig_sr=sample_rate * factor, target_sr=sample_rate).astype(np.float32)


def time_stretch(samples: np.ndarray, rate: float) -> np.ndarray:
    """``rate`` times faster, same pitch (phase vocoder)."""
    return librosa.effects.time_stretch(samples, rate=rate).astype(np.float32)


def pitch_shift(samples: np.ndarray, sample_rate: int, semitones: float) -> np.ndarray:
    """Same tempo, pitch moved by ``semitones``."""
    return librosa.effects.pitch_shift(samples, sr=sample_rate, n_steps=semitones).astype(np.float32)


def _scale_to_snr(signal: np.ndarray, interference: np.ndarray, snr_db: float) -> np.ndarray:
    power = float(np.mean(signal ** 2)) or 1e-12
    scale = np.sqrt(power / (10 ** (snr_db / 10)) / (float(np.mean(interference ** 2)) or 1e-12))
    return (interference * scale).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator, color: str = "white") -> np.ndarray:
    """Gaussian noise at ``snr_db`` below the signal: 'white' (flat) or 'pink' (1/f, as loud in every octave)."""
    noise = rng.standard_normal(samples.size)
    if color == "pink":
        spectrum = np.fft.rfft(noise)
        spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
        noise = np.fft.irfft(spectrum, n=samples.size)
    elif color != "white":
        raise ValueError(f"unknown noise colour {color!r} (white, pink)")
    return (samples + _scale_to_snr(samples, noise.astype(np.float32), snr_db)).astype(np.float32)


def speech(duration_s: float, sample_rate: int, rng: np.random.Generator,
           voices: list[str] = ESPEAK_VOICES) -> tuple[np.ndarray, str]:
    """Talking for ``duration_s``: phrases with pauses of 0.3-2 s between them (someone talking over
    a dance, not a narrator). espeak-ng (in one of ``voices``) when installed, else formant-synthesised babble.

    Returns (samples, what made them: 'espeak-ng' or 'formant babble').
    """
    make = _espeak_phrase if shutil.which("espeak-ng") else _babble_phrase
    pieces: list[np.ndarray] = [np.zeros(int(rng.uniform(0, 1.0) * sample_rate), np.float32)]
    total = pieces[0].size
    with tempfile.TemporaryDirectory(prefix="tdm-speech-") as folder:
        while total < duration_s * sample_rate:
            voice = make(Path(folder) / f"{len(pieces)}.wav", sample_rate, rng, voices)
            pause = np.zeros(int(rng.uniform(0.3, 2.0) * sample_rate), np.float32)
            pieces += [voice, pause]
            total += voice.size + pause.size
    return np.concatenate(pieces)[: int(duration_s * sample_rate)], \
        "espeak-ng" if make is _espeak_phrase else "formant babble"


def _espeak_phrase(wav: Path, sample_rate: int, rng: np.random.Generator, voices: list[str]) -> np.ndarray:
    """A few random words (never the same sentence twice in a benchmark), in a random voice and pace."""
    words = " ".join(SPEECH_WORDS[int(i)] for i in rng.integers(len(SPEECH_WORDS), size=int(rng.integers(3, 9))))
    subprocess.run(["espeak-ng", "-v", voices[int(rng.integers(len(voices)))],
                    "-s", str(int(rng.integers(140, 200))), "-p", str(int(rng.integers(25, 75))),
                    "-w", str(wav), words], check=True, capture_output=True)
    return decode_mono(wav, sample_rate)


def _babble_phrase(wav: Path, sample_rate: int, rng: np.random.Generator, voices: list[str]) -> np.ndarray:
    """Syllables: a glottal pulse train (gliding pitch) through three vowel formants (``voices`` name espeak's
    voices: not used here)."""
    from scipy.signal import lfilter

    vowels = [(730, 1090, 2440), (270, 2290, 3010), (530, 1840, 2480), (570, 840, 2410), (300, 870, 2240)]
    syllables = []
    for _ in range(int(rng.integers(4, 14))):
        length = int(rng.uniform(0.12, 0.3) * sample_rate)
        f0 = rng.uniform(90, 240) * np.linspace(1.0, rng.uniform(0.8, 1.2), length)
        source = (np.diff(np.floor(np.cumsum(f0 / sample_rate)), prepend=0.0) > 0).astype(np.float64)
        voice = np.zeros(length)
        for formant in vowels[int(rng.integers(len(vowels)))]:
            radius = np.exp(-np.pi * 80 / sample_rate)
            theta = 2 * np.pi * min(formant, sample_rate / 2 - 100) / sample_rate
            voice += lfilter([1.0], [1.0, -2 * radius * np.cos(theta), radius ** 2], source)
        syllables += [voice * np.hanning(length), np.zeros(int(rng.uniform(0.02, 0.15) * sample_rate))]
    return np.concatenate(syllables).astype(np.float32)


def mix_speech(samples: np.ndarray, sample_rate: int, music_to_speech_db: float,
               rng: np.random.Generator, voices: list[str] = ESPEAK_VOICES) -> tuple[np.ndarray, str]:
    """Talking over the music: while someone talks, the voice is ``music_to_speech_db`` dB below the
    music (negative: louder than the music). Levels are compared over the talking parts only."""
    voice, source = speech(samples.size / sample_rate, sample_rate, rng, voices)
    voice = np.pad(voice, (0, max(0, samples.size - voice.size)))[: samples.size]
    talking = np.abs(voice) > 1e-4
    if not talking.any():
        return samples, source
    scale = np.sqrt(float(np.mean(samples[talking] ** 2)) / 10 ** (music_to_speech_db / 10)
                    / float(np.mean(voice[talking] ** 2)))
    return (samples + voice * scale).astype(np.float32), source


def gain_changes(samples: np.ndarray, sample_rate: int, rng: np.random.Generator, low_db: float = -20.0,
                 high_db: float = 6.0) -> np.ndarray:
    """A gain that glides between random levels every 2-4 s, then hard clipping at full scale."""
    knots = [0]
    while knots[-1] < samples.size:
        knots.append(knots[-1] + int(rng.uniform(2, 4) * sample_rate))
    levels = rng.uniform(low_db, high_db, len(knots))
    envelope = 10 ** (np.interp(np.arange(samples.size), knots, levels) / 20)
    return np.clip(samples * envelope, -1.0, 1.0).astype(np.float32)


def fades(samples: np.ndarray, sample_rate: int, fade_in_s: float, fade_out_s: float) -> np.ndarray:
    """Linear fade-in and fade-out."""
    envelope = np.ones(samples.size, np.float32)
    n_in = min(samples.size, int(fade_in_s * sample_rate))
    n_out = min(samples.size, int(fade_out_s * sample_rate))
    envelope[:n_in] *= np.linspace(0, 1, n_in, dtype=np.float32)
    if n_out:
        envelope[-n_out:] *= np.linspace(1, 0, n_out, dtype=np.float32)
    return samples * envelope


def write_encoded(samples: np.ndarray, sample_rate: int, target: Path, bitrate_kbps: int = 48) -> None:
    """Write ``target`` with a lossy codec chosen by its suffix (.m4a: AAC, .mp3: MP3) at ``bitrate_kbps``."""
    codecs = {".m4a": "aac", ".mp3": "libmp3lame", ".ogg": "libvorbis", ".opus": "libopus"}
    if target.suffix not in codecs:
        raise ValueError(f"no lossy codec for {target.suffix} (use one of {sorted(codecs)})")
    with tempfile.TemporaryDirectory(prefix="tdm-encode-") as folder:
        wav = Path(folder) / "in.wav"
        soundfile.write(wav, samples, sample_rate, subtype="FLOAT")
        run_ffmpeg(["-i", wav, "-c:a", codecs[target.suffix], "-b:a", f"{bitrate_kbps}k", target],
                   f"encode {target.name} at {bitrate_kbps} kbps", binary=system_ffmpeg())
