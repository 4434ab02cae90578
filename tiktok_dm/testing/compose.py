"""Assemble a compilation video from parts (a video, the music to lay under it, a length).

Used by ``demo`` and by the tests, which need compilations whose clip boundaries are known
exactly: every part is normalised to one frame size and rate, then all parts are joined with
ffmpeg's concat filter, so the returned spans are exact to the frame.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from tiktok_dm.media import run_ffmpeg
from tiktok_dm.model.atomic import atomic_path


@dataclasses.dataclass(frozen=True)
class CompilationPart:
    video: Path
    seconds: float
    # Music laid under the part (mono float32 at ``sample_rate``), or None to keep no sound at all.
    music: np.ndarray | None
    sample_rate: int = 22050


def compose_compilation(parts: Sequence[CompilationPart], out_path: str | Path, width: int = 640, height: int = 360,
                        fps: int = 30) -> list[tuple[float, float]]:
    """Write the compilation to ``out_path`` (mp4, H.264 + AAC); return each part's (start, end) in seconds.

    Part lengths are rounded to whole frames; a part video shorter than its length is looped.
    """
    if not parts:
        raise ValueError("a compilation needs at least one part")
    spans, start_frame = [], 0
    with tempfile.TemporaryDirectory(prefix="tdm-compose-") as scratch:
        normalised = []
        for index, part in enumerate(parts):
            frames = round(part.seconds * fps)
            # Parts keep PCM audio: AAC would trim a few ms per part and the joins would drift.
            path = Path(scratch) / f"part{index:03d}.mkv"
            _normalise_part(part, frames, fps, width, height, path, Path(scratch))
            normalised.append(path)
            spans.append((start_frame / fps, (start_frame + frames) / fps))
            start_frame += frames
        inputs = [arg for path in normalised for arg in ("-i", path)]
        streams = "".join(f"[{i}:v][{i}:a]" for i in range(len(normalised)))
        total = start_frame / fps
        joined = f"{streams}concat=n={len(normalised)}:v=1:a=1[v][joined];[joined]apad=whole_dur={total:.6f}[a]"
        with atomic_path(out_path) as tmp:
            run_ffmpeg([*inputs, "-filter_complex", joined,
                        "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", "44100", "-ac", "2", tmp],
                       what=f"join {len(parts)} parts into {Path(out_path).name}")
    return spans


def _normalise_part(part: CompilationPart, frames: int, fps: int, width: int, height: int, out: Path,
                    scratch: Path) -> None:
    seconds = frames / fps
    music = np.zeros(int(seconds * part.sample_rate), np.float32) if part.music is None else part.music
    wav = scratch / f"{out.stem}.wav"
    sf.write(str(wav), music[: int(np.ceil(seconds * part.sample_rate))], part.sample_rate, subtype="FLOAT")
    video_filter = (f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
                    f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,fps={fps},setsar=1")
    run_ffmpeg(["-stream_loop", "-1", "-i", part.video, "-i", wav, "-map", "0:v:0", "-map", "1:a:0",
                "-vf", video_filter, "-frames:v", str(frames), "-af", f"apad,atrim=0:{seconds:.6f}",
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p",
                "-c:a", "pcm_s16le", "-ar", "44100", "-ac", "2", out], what=f"normalise {Path(part.video).name}")
