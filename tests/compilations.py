"""Test compilations with known clip boundaries, from the real footage in ../shared and real music."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import librosa
import numpy as np
import pandas as pd

from tiktok_dm.testing.compose import CompilationPart, compose_compilation

SAMPLE_RATE = 22050


@dataclasses.dataclass(frozen=True)
class PlannedClip:
    clip_id: str
    video: str  # file name in real_dance, or "" for a video without a person
    seconds: float
    song: int  # index into the music files
    song_offset_s: float
    people: int


# Compilation 000000: three real clips, song 0 used twice (two clips sharing a song, not adjacent),
# and a clip without any person. Compilation 000001: two more real clips with other songs.
REAL_COMPILATIONS = {
    "000000": [PlannedClip("0", "romp_sample_video2.mp4", 5.0, 0, 20.0, 1),
               PlannedClip("1", "mimic_raw_0.mp4", 4.0, 1, 15.0, 1),
               PlannedClip("2", "sam2_bedroom.mp4", 4.5, 0, 50.0, 2),
               PlannedClip("3", "", 3.0, 2, 10.0, 0)],
    "000001": [PlannedClip("4", "iper_akun_1.mp4", 4.0, 2, 30.0, 1),
               PlannedClip("5", "unianimate_source_video.mp4", 5.0, 3, 25.0, 1)],
}


def load_song(path: Path, offset_s: float, seconds: float) -> np.ndarray:
    audio, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True, offset=offset_s, duration=seconds)
    return audio


def write_personless_video(path: Path, seconds: float) -> Path:
    """Conway's game of life: edges and motion, no person (testsrc2 fools BlazePose in ~half the frames). Seeded,
    so the same compilation comes out byte for byte on every run (scripts/dataset_digest.py compares datasets)."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"life=size=640x360:rate=30:mold=10:ratio=0.5:seed=1,trim=duration={seconds}", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def make_compilation(folder: Path, name: str, plan: list[PlannedClip], real_dance: Path,
                     music: list[Path]) -> list[tuple[float, float]]:
    parts = []
    for clip in plan:
        video = real_dance / clip.video if clip.video else write_personless_video(folder / f"noperson_{name}.mp4",
                                                                                  clip.seconds)
        parts.append(CompilationPart(video, clip.seconds, load_song(music[clip.song], clip.song_offset_s,
                                                                    clip.seconds), SAMPLE_RATE))
    return compose_compilation(parts, folder / f"{name}.mp4")


def manifest_rows(base_url: str, name: str, plan: list[PlannedClip], spans) -> list[dict]:
    return [{"compilation_id": name, "url": f"{base_url}/{name}.mp4", "clip_id": clip.clip_id,
             "start_s": f"{start:.6f}", "end_s": f"{end:.6f}", "song_id": str(clip.song), "num_dancers": clip.people}
            for clip, (start, end) in zip(plan, spans)]


def failing_rows(base_url: str, closed_port: int) -> list[dict]:
    """One manifest row for each failure a user will meet: a missing file, a refused connection, a corrupt file,
    a silent and a mute compilation (serve ``make_failing_media``'s folder at ``base_url``; nothing may listen on
    ``closed_port``)."""
    failing = {"6": f"{base_url}/does_not_exist.mp4", "7": f"http://127.0.0.1:{closed_port}/refused.mp4",
               "8": f"{base_url}/corrupt.mp4", "9": f"{base_url}/silent.mp4", "10": f"{base_url}/noaudio.mp4"}
    return [{"compilation_id": f"00000{index + 2}", "url": url, "clip_id": clip_id, "start_s": "0", "end_s": "3.5",
             "song_id": str(10 + index), "num_dancers": 1} for index, (clip_id, url) in enumerate(failing.items())]


def make_failing_media(folder: Path, real_dance: Path) -> None:
    """The files of ``failing_rows`` next to the compilations of ``folder`` (000001.mp4 must exist)."""
    compose_compilation([CompilationPart(real_dance / "phalp_vid.mp4", 4.0, None)], folder / "silent.mp4")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(folder / "000001.mp4"), "-an",
                    "-c:v", "copy", str(folder / "noaudio.mp4")], check=True)
    (folder / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(200_000))


def write_manifest(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
