"""ffprobe / ffmpeg helpers (and PyAV where starting a process costs too much). Every failure becomes a
StageError carrying ffmpeg's own message."""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av

from tiktok_dm.model.status import ErrorKind, StageError

# Enough of ffmpeg's stderr to name the problem without flooding the failures table.
_STDERR_TAIL_CHARS = 600


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    video_frames: int | None = None
    audio_sample_rate: int = 0
    audio_channels: int = 0


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found on PATH; install ffmpeg (e.g. `apt-get install ffmpeg`)")
    return path


@functools.lru_cache(maxsize=1)
def analysis_ffmpeg() -> str:
    """The ffmpeg that decodes for analysis (the boundary detector's picture and sound): imageio-ffmpeg's
    static build where the wheel has one for this platform, or the binary the IMAGEIO_FFMPEG_EXE
    environment variable names; else ffmpeg on PATH.

    Why not simply PATH: the detector starts three ffmpeg processes per compilation, and Debian's
    ffmpeg, linked against ~200 shared libraries, spends ~0.12 s of CPU starting each (~9 % of the
    detector's CPU on a 40-second compilation); the static build starts in a few ms and decodes the
    benchmark's 1280x720 H.264 ~6 % cheaper. Its analysis frames are bit-identical to Debian's
    ffmpeg 5.1 and its sound within 2e-7 (measured on the 16 benchmark compilations).
    """
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return require_tool("ffmpeg")


@functools.lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    """First line of ``ffmpeg -version`` (recorded in every clip's provenance)."""
    completed = subprocess.run([require_tool("ffmpeg"), "-version"], capture_output=True, text=True)
    return completed.stdout.splitlines()[0].strip() if completed.stdout else "unknown"


def probe(path: str | Path, count_frames: bool = False) -> MediaInfo:
    """Read container and stream facts; raises StageError when the file is not readable media."""
    args = [require_tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
    if count_frames:
        args += ["-count_packets"]
    completed = subprocess.run(args + [str(path)], capture_output=True, text=True)
    if completed.returncode != 0:
        raise StageError(f"ffprobe cannot read {Path(path).name}: {_tail(completed.stderr) or 'no streams'}",
                         ErrorKind.UNREADABLE)
    report = json.loads(completed.stdout or "{}")
    streams = report.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover_art(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = _float(report.get("format", {}).get("duration")) or max(
        (_float(s.get("duration")) for s in streams), default=0.0)
    if video is None and audio is None:
        raise StageError(f"{Path(path).name} has no audio or video stream", ErrorKind.UNREADABLE)
    info = MediaInfo(duration_s=duration, has_video=video is not None, has_audio=audio is not None)
    if video is not None:
        frames = video.get("nb_read_packets") or video.get("nb_frames")
        info = dataclasses.replace(
            info, width=int(video.get("width", 0)), height=int(video.get("height", 0)),
            fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")),
            video_frames=int(frames) if frames and str(frames).isdigit() else None)
    if audio is not None:
        info = dataclasses.replace(info, audio_sample_rate=int(audio.get("sample_rate", 0) or 0),
                                   audio_channels=int(audio.get("channels", 0) or 0))
    return info


def probe_in_process(path: str | Path) -> MediaInfo:
    """What ``probe`` tells (less ``video_frames``), read by PyAV in this process.

    Starting ffprobe costs ~0.1 s of CPU (it links ~200 libraries) and as much wall time before any
    work can start: for the clip-boundary detector, which analyses a compilation in a second or two,
    that is several percent of its speed. Raises StageError when the file is not readable media.
    """
    name = Path(path).name
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as error:
        raise StageError(f"cannot read {name} as media: {getattr(error, 'strerror', None) or error}",
                         ErrorKind.UNREADABLE) from error
    with container:
        video = next((s for s in container.streams.video
                      if not s.disposition & av.stream.Disposition.attached_pic), None)
        audio = next(iter(container.streams.audio), None)
        if video is None and audio is None:
            raise StageError(f"{name} has no audio or video stream", ErrorKind.UNREADABLE)
        duration = container.duration / av.time_base if container.duration else max(
            (float(s.duration * s.time_base) for s in (video, audio) if s is not None and s.duration), default=0.0)
        info = MediaInfo(duration_s=max(duration, 0.0), has_video=video is not None, has_audio=audio is not None)
        if video is not None:
            rate = video.average_rate or video.guessed_rate
            info = dataclasses.replace(info, width=video.width, height=video.height,
                                       fps=float(rate) if rate and rate > 0 else 0.0)
        if audio is not None:
            info = dataclasses.replace(info, audio_sample_rate=audio.rate or 0, audio_channels=audio.channels or 0)
    return info


def audio_on_the_clock(sample_rate: int | None = None) -> str:
    """An ffmpeg ``aresample`` filter (resampling to ``sample_rate`` if given) that keeps decoded audio on
    the container's clock: silence fills a gap between packets and a late start.

    Raw PCM and WAV have no timestamps: without it, a gap in the audio (joined or badly muxed files)
    is dropped and every later sample lands early (16 compilations joined with the concat demuxer:
    9.6 s early by the end, and the boundary detector's sound evidence was off by that much).
    """
    rate = f"{sample_rate}:" if sample_rate else ""
    return f"aresample={rate}async=1:first_pts=0"


def run_ffmpeg(args: Sequence[str], what: str) -> None:
    """Run ffmpeg quietly; on failure raise StageError naming ``what`` with ffmpeg's message."""
    command = [require_tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise StageError(f"ffmpeg failed to {what}: {_tail(completed.stderr) or f'exit code {completed.returncode}'}")


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _STDERR_TAIL_CHARS else "..." + text[-_STDERR_TAIL_CHARS:]


def _is_cover_art(stream: dict) -> bool:
    return bool(stream.get("disposition", {}).get("attached_pic"))


def _rate(value: str | None) -> float:
    try:
        rate = Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return 0.0
    return float(rate) if rate > 0 else 0.0


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
