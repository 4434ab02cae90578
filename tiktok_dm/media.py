"""ffmpeg and PyAV helpers: the one ffmpeg binary every stage runs (imageio-ffmpeg's, no system ffmpeg needed) and
probes in this process (PyAV, no ffprobe). Every failure becomes a StageError carrying ffmpeg's own message."""

from __future__ import annotations

import dataclasses
import functools
import shutil
import subprocess
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


class MediaToolMissing(RuntimeError):
    """No ffmpeg to run: imageio-ffmpeg has no build for this platform and none is on PATH."""


@functools.lru_cache(maxsize=1)
def ffmpeg_binary() -> str:
    """The one ffmpeg every stage runs (the cut, the song fingerprints' decodes, the boundary detector, yt-dlp's
    merges): imageio-ffmpeg's static build (a dependency, pinned: the same ffmpeg 7.0.2 on every machine, so a
    rebuilt dataset gets the same encodes), or the binary the IMAGEIO_FFMPEG_EXE environment variable names; ffmpeg
    on PATH only where imageio-ffmpeg ships no build for the platform. No system ffmpeg is needed.

    Why not simply PATH: a pinned binary makes builds comparable across machines, and the detector starts three
    ffmpeg processes per compilation: Debian's ffmpeg, linked against ~200 shared libraries, spends ~0.12 s of CPU
    starting each (~9 % of the detector's CPU on a 40-second compilation); the static build starts in a few ms and
    decodes the benchmark's 1280x720 H.264 ~6 % cheaper. Its analysis frames are bit-identical to Debian 12's ffmpeg
    5.1 (on which the detector was calibrated) and its sound within 2e-7 (measured on the 16 benchmark compilations).
    """
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as error:
        path = shutil.which("ffmpeg")
        if path is None:
            raise MediaToolMissing(
                f"no ffmpeg: imageio-ffmpeg gives none ({error}) and there is no ffmpeg on PATH. Install ffmpeg "
                "(e.g. `apt-get install ffmpeg`) or name a binary in the IMAGEIO_FFMPEG_EXE environment variable"
            ) from error
        return path


def system_ffmpeg() -> str:
    """ffmpeg on PATH, for what the pinned static build cannot do: it has no drawtext filter, which the synthetic
    test compilations (``tiktok_dm.testing``) draw their captions with; their material was also calibrated on the
    system's encoders. The build itself never needs it."""
    path = shutil.which("ffmpeg")
    if path is None:
        raise MediaToolMissing("no ffmpeg on PATH: the synthetic test material needs a full ffmpeg build (its drawtext "
                               "filter); install it (`apt-get install ffmpeg`, or `bash scripts/install.sh --test`)")
    return path


@functools.lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    """First line of ``ffmpeg -version`` of :func:`ffmpeg_binary` (recorded in every clip's provenance)."""
    completed = subprocess.run([ffmpeg_binary(), "-version"], capture_output=True, text=True)
    return completed.stdout.splitlines()[0].strip() if completed.stdout else "unknown"


def probe(path: str | Path, count_frames: bool = False) -> MediaInfo:
    """Container and stream facts, read by PyAV in this process (no ffprobe needed); with ``count_frames`` the video
    stream's packets counted by demuxing (one per frame in the MP4s the cut writes). Raises StageError when the file
    is not readable media.

    In process because starting ffprobe costs ~0.1 s of CPU (it links ~200 libraries) and as much wall time before
    any work can start: for the clip-boundary detector, which analyses a compilation in a second or two, that is
    several percent of its speed.
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
        if count_frames and video is not None:
            try:
                frames = sum(1 for packet in container.demux(video) if packet.size)
            except av.FFmpegError as error:
                raise StageError(f"cannot read the frames of {name}: {error}", ErrorKind.UNREADABLE) from error
            info = dataclasses.replace(info, video_frames=frames)
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


def run_ffmpeg(args: Sequence[str], what: str, binary: str | None = None) -> None:
    """Run ffmpeg (``binary``, else :func:`ffmpeg_binary`) quietly; on failure raise StageError naming ``what`` with
    ffmpeg's message."""
    command = [binary or ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise StageError(f"ffmpeg failed to {what}: {_tail(completed.stderr) or f'exit code {completed.returncode}'}")


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _STDERR_TAIL_CHARS else "..." + text[-_STDERR_TAIL_CHARS:]
