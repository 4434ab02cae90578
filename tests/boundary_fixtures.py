"""A small edited compilation holding every hard case of clip-boundary detection, and bad inputs.

The compilation (640x360, ~28 s, real dance clips and Wesnoth music) is, in order:
  A  hard cut ->  B  cross-fade ->  C (one recording, one song: a punch-in zoom, an internal camera cut)  hard cut
  ->  D  hard cut, same song restarts ->  E  hard cut ->  title card  hard cut ->  F (3 s)  hard cut ->  G  hard
  cut, one excerpt of one song runs on (another person in another room)  ->  H
"""

from __future__ import annotations

import dataclasses
import random
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from tiktok_dm.testing.edited_compilation import (CardPart, ClipPart, EditedCompilation, Shot, Transition,
                                                  compose_edited_compilation, read_excerpt)

RATE = 44100


@dataclasses.dataclass(frozen=True)
class HardCases:
    compilation: EditedCompilation
    hard_cut_s: float  # A | B
    crossfade_s: float  # B | C (middle of the cross-fade)
    internal_cut_s: float  # inside C
    same_song_s: float  # D | E, both on one song (it restarts)
    card: tuple[float, float]  # the title card, between E and F
    three_second_clip: tuple[float, float]  # F
    music_runs_on_s: float  # G | H, one excerpt running on across the cut

    @property
    def path(self) -> Path:
        return self.compilation.path


def loud_offset(song: Path, seconds: float, seed: int) -> float:
    """A fixed (seeded) offset where the song is playing, not in a quiet intro."""
    rng = random.Random(seed)
    length = sf.info(str(song)).duration
    for _ in range(50):
        offset = round(rng.uniform(5.0, length - seconds - 5.0), 2)
        if np.sqrt(np.mean(read_excerpt(song, offset, seconds, RATE) ** 2)) > 10 ** (-26 / 20):
            return offset
    return offset


def build_hard_cases(folder: Path, real_dance: Path, music: list[Path]) -> HardCases:
    songs = [song for song in music if sf.info(str(song)).duration >= 90][:6]
    if len(songs) < 6:
        raise ValueError(f"need 6 songs of 90 s or more, found {len(songs)}")

    def clip(shots, song: int, seconds: float, offset_seed: int, **kwargs) -> ClipPart:
        offset = loud_offset(songs[song], seconds, seed=offset_seed)
        return ClipPart(tuple(Shot(real_dance / name, *shot) for name, *shot in shots),
                        read_excerpt(songs[song], offset, seconds + 0.1, RATE), RATE, **kwargs)

    restart_offset = loud_offset(songs[3], 4.0, seed=3)
    running_offset = loud_offset(songs[5], 8.5, seed=5)  # G and H: one excerpt across their cut
    parts = [
        clip([("romp_sample_video2.mp4", 1.0, 4.5)], 0, 4.5, 0, caption="@dancer_one"),
        clip([("iper_akun_1.mp4", 0.5, 4.0)], 1, 4.0, 1, transition=Transition("crossfade", 0.8)),
        clip([("unianimate_source_video.mp4", 1.0, 2.6), ("unianimate_source_video.mp4", 3.6, 2.2, 1.5)], 2, 4.8, 2),
        ClipPart((Shot(real_dance / "mimic_raw_0.mp4", 1.0, 4.0),), read_excerpt(songs[3], restart_offset, 4.1, RATE),
                 RATE, layout="blur"),
        ClipPart((Shot(real_dance / "musepose_ubc_91BjuE6irxS.mp4", 0.5, 4.2),),
                 read_excerpt(songs[3], restart_offset, 4.3, RATE), RATE),
        CardPart("#1", 1.5, color="navy"),
        clip([("mmhuman3d_single_person.mp4", 0.1, 3.0)], 4, 3.0, 4),
        ClipPart((Shot(real_dance / "phalp_vid.mp4", 0.5, 4.0),), read_excerpt(songs[5], running_offset, 4.1, RATE),
                 RATE, layout="blur", caption="@runner"),
        ClipPart((Shot(real_dance / "sam2_bedroom.mp4", 0.5, 4.0),),
                 read_excerpt(songs[5], running_offset + 4.0, 4.1, RATE), RATE),
    ]
    compilation = compose_edited_compilation(parts, folder / "hard_cases.mp4", 640, 360,
                                             channel_watermark="@BestOfTikTok")
    clips = compilation.clips
    return HardCases(compilation, hard_cut_s=clips[0][1], crossfade_s=clips[1][1],
                     internal_cut_s=compilation.internal_cuts[0], same_song_s=clips[3][1],
                     card=compilation.cards[0], three_second_clip=clips[5], music_runs_on_s=clips[6][1])


def _ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *map(str, args)], check=True)


def without_audio(video: Path, out: Path) -> Path:
    _ffmpeg("-i", video, "-map", "0:v:0", "-c", "copy", out)
    return out


def reencoded(video: Path, out: Path, codec: str) -> Path:
    """The same compilation in another codec YouTube serves (``vp9`` or ``av1``, in WebM with Opus)."""
    video_args = {"vp9": ["libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "600k"],
                  "av1": ["libsvtav1", "-preset", "12", "-crf", "40"]}[codec]
    _ffmpeg("-i", video, "-c:v", *video_args, "-c:a", "libopus", "-b:a", "64k", out)
    return out


def audio_only(video: Path, out: Path) -> Path:
    _ffmpeg("-i", video, "-map", "0:a:0", "-c", "copy", out)
    return out


def empty_video(out: Path) -> Path:
    """An mp4 with zero frames (ffmpeg writes a container with nothing in it)."""
    _ffmpeg("-f", "lavfi", "-i", "color=s=64x64:r=30", "-frames:v", "0", "-c:v", "libx264", out)
    return out


def keyframes_every(out: Path, seconds: float, interval_s: float) -> Path:
    """A moving test picture with a keyframe exactly every ``interval_s`` (30 fps, no scene-cut keyframes)."""
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=d={seconds}:s=128x72:r=30", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            "-g", str(int(round(interval_s * 30))), "-x264-params", "scenecut=0", out)
    return out


def unreadable(out: Path) -> Path:
    out.write_text("this is not a video\n")
    return out


def late_audio_video(path, beep_at_s: float = 1.5, audio_starts_s: float = 1.0):
    """4 s of picture whose sound track starts ``audio_starts_s`` late (as in badly muxed or joined
    files) and holds one 0.1 s beep at ``beep_at_s`` on the video clock."""
    beep = f"if(between(t,{beep_at_s - audio_starts_s},{beep_at_s - audio_starts_s + 0.1}),0.8*sin(2*PI*1000*t),0)"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=d=4:s=128x72:r=30",
                    "-itsoffset", str(audio_starts_s), "-f", "lavfi", "-i", f"aevalsrc='{beep}':s=44100:d=2.5",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)
    return path


def beep_time(samples: np.ndarray, sample_rate: int) -> float:
    """Time of the first sample above half the peak."""
    samples = np.abs(np.asarray(samples, dtype=np.float64))
    return float(np.argmax(samples > 0.5 * samples.max()) / sample_rate)
