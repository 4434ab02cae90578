"""Decode a compilation once for analysis: small RGB frames at a fixed step, and mono PCM at a low rate.

Both come straight out of ffmpeg pipes, in parallel (one process per stream; the detector reads
the sound's on a thread), from ``media.ffmpeg_binary`` (a static build that starts in a few ms).
The picture is decoded with the cheap options a thumbnail-sized analysis can afford: no in-loop deblocking and, for codecs with B-frames, no non-reference frames (about half the
decode work); ``fps`` then picks one frame per step, so frame ``i`` shows time ``i / fps``, give
or take one source frame. Frames arrive in blocks so the whole video is never held in memory.
The same decode also feeds a tiny (32x18 luma) stream at three times the step, which places each
cut to about 1/30 s so that the sound can be checked exactly at the cut. A long video's picture can
be decoded in consecutive time parts (``TimePart``), one process each, to use every core, split
next to keyframes (``KeyframeIndex``, read by PyAV from the container's index); the sound is kept on
the container's clock (gaps and a late start filled with silence).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
from pathlib import Path
from typing import Callable, Iterator

import av
import numpy as np

from tiktok_dm.media import MediaInfo, audio_on_the_clock, ffmpeg_binary
from tiktok_dm.model.status import ErrorKind, StageError

_STDERR_CHARS = 600
# No in-loop deblocking, no non-reference frames: thumbnails look the same for about half the work.
FAST_DECODE_OPTIONS = ["-skip_frame", "noref", "-skip_loop_filter", "all"]
BLOCK_FRAMES = 256


def analysis_size(info: MediaInfo, long_side: int) -> tuple[int, int]:
    """(width, height) with the longer side about ``long_side`` and the source's aspect, both multiples of 8."""
    width, height = max(info.width, 1), max(info.height, 1)
    scale = long_side / max(width, height)
    return max(8, int(round(width * scale / 8)) * 8), max(8, int(round(height * scale / 8)) * 8)


class VideoDecoder:
    """One ffmpeg process, two outputs: analysis frames in blocks, and a tiny luma stream at 3x the rate;
    of the whole video, or of one ``TimePart`` of it.

    ``blocks()`` yields uint8 RGB blocks (B, height, width, 3) at ``fps``; once it is exhausted,
    ``fine`` holds uint8 luma frames (M, 18, 32) at ``fine_fps``, used to place cuts to 1/fine_fps s
    (three per analysis frame, one fewer for a decode to the end of the video).
    Raises StageError (from ``blocks()``) if ffmpeg fails.
    """

    FINE_SIZE = (32, 18)
    # The tiny frames leave ffmpeg stacked FINE_TILE to a picture: ffmpeg's CLI spends ~0.1 ms on every
    # frame it writes out, which at 3x the analysis rate was ~5 % of the whole detector's CPU.
    FINE_TILE = 16

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], fast_decode: bool = True,
                 block_frames: int = BLOCK_FRAMES, threads: int = 0, part: "TimePart | None" = None):
        self.path = Path(path)
        self.fps, self.fine_fps = fps, 3 * fps
        self.size = size
        self.fast_decode = fast_decode
        self.block_frames = block_frames
        self.threads = threads
        self.part = part
        self.fine = np.zeros((0, self.FINE_SIZE[1], self.FINE_SIZE[0]), np.uint8)

    def _command(self, fine_fd: int) -> list[str]:
        width, height = self.size
        fine_w, fine_h = self.FINE_SIZE
        fast = FAST_DECODE_OPTIONS if self.fast_decode else []
        graph = (f"[0:v:0]split[a][b];"
                 f"[a]fps={self.fps}:start_time=0:round=near,scale={width}:{height}:flags=area,format=rgb24[frames];"
                 # The fine stream only has to show where a cut falls: the cheapest scaler will do.
                 f"[b]fps={self.fine_fps}:start_time=0:round=near,scale={fine_w}:{fine_h}:flags=fast_bilinear,"
                 f"format=gray,tile=1x{self.FINE_TILE}[fine]")
        threads = ["-threads", str(self.threads)] if self.threads else []
        # Slice threads in these tiny filter chains cost more than they save: one thread is 5 % faster for one
        # video and uses ~28 % less CPU (measured, 1280x720 H.264 on 2 cores).
        threads += ["-filter_complex_threads", "1"]
        span = self.part.input_options(self.fps) if self.part else []
        return [ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", *threads, *fast, *span,
                "-i", str(self.path), "-filter_complex", graph,
                "-map", "[frames]", "-f", "rawvideo", "pipe:1", "-map", "[fine]", "-f", "rawvideo", f"pipe:{fine_fd}"]

    def blocks(self) -> Iterator[np.ndarray]:
        width, height = self.size
        frame_bytes = width * height * 3
        # A part's decoder reads a little past its end (so that its last frame is there); frames
        # beyond the part belong to the next one and are dropped.
        limit = self.part.frame_count if self.part else None
        yielded = 0
        fine_read, fine_write = os.pipe()
        try:
            process = subprocess.Popen(self._command(fine_write), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       pass_fds=(fine_write,))
        finally:
            os.close(fine_write)
        stderr: list[bytes] = []
        fine: list[bytes] = []
        readers = [threading.Thread(target=lambda: stderr.append(process.stderr.read()), daemon=True),
                   threading.Thread(target=_drain, args=(fine_read, fine), daemon=True)]
        for reader in readers:
            reader.start()
        try:
            while True:
                buffer = bytearray(frame_bytes * self.block_frames)
                view, filled = memoryview(buffer), 0
                while filled < len(buffer):
                    got = process.stdout.readinto(view[filled:])
                    if not got:
                        break
                    filled += got
                count = filled // frame_bytes
                if limit is not None:
                    count = max(0, min(count, limit - yielded))
                if count:
                    yield np.frombuffer(buffer, np.uint8, count * frame_bytes).reshape(count, height, width, 3)
                    yielded += count
                if filled < len(buffer):
                    break
        finally:
            process.stdout.close()
            process.wait()
            for reader in readers:
                reader.join()
        if process.returncode != 0:
            message = b"".join(stderr).decode("utf-8", "replace").strip()[-_STDERR_CHARS:]
            raise StageError(f"ffmpeg cannot decode the picture of {self.path.name}: {message or process.returncode}",
                             ErrorKind.UNREADABLE)
        data = b"".join(fine)
        fine_w, fine_h = self.FINE_SIZE
        ratio = int(round(self.fine_fps / self.fps))
        # The last tile is padded with black frames. A decode to the end of the video gives 3N-1 to 3N+1
        # fine frames for N analysis frames (measured on 33 videos): its first 3N-1 are real.
        real = limit * ratio if limit is not None else max(0, yielded * ratio - 1)
        count = min(len(data) // (fine_w * fine_h), real)
        self.fine = np.frombuffer(data[: count * fine_w * fine_h], np.uint8).reshape(count, fine_h, fine_w)


@dataclasses.dataclass(frozen=True)
class TimePart:
    """Analysis frames ``first_frame`` .. ``first_frame + frame_count - 1`` of a video (all the rest when
    ``frame_count`` is None), decoded by a process of its own."""

    first_frame: int
    frame_count: int | None

    def input_options(self, fps: float) -> list[str]:
        # Input seeking is exact when filtering: ffmpeg decodes from the keyframe before the start
        # and drops what precedes it, so frame i of this part is frame first_frame + i of one pass.
        options = ["-ss", f"{self.first_frame / fps:.6f}"] if self.first_frame else []
        if self.frame_count is not None:
            options += ["-t", f"{(self.frame_count + 1) / fps:.6f}"]
        return options


def time_parts(duration_s: float, fps: float, parts: int, min_part_s: float,
               keyframe_near: Callable[[float], float | None] | None = None) -> list[TimePart]:
    """Split ``duration_s`` into at most ``parts`` consecutive parts of at least ``min_part_s``, on the frame grid.

    A part's decoder starts at the keyframe before the part, and decodes in vain up to there (up to a
    keyframe interval, 2-10 s in compilations). With ``keyframe_near`` (the time of the keyframe
    nearest to a time, or None), each later part starts instead on the first analysis frame after
    the keyframe nearest to its even split point, if that still leaves every part a frame: less
    work, and the longest part (what the wall time waits for) is never longer than without it.
    """
    count = max(1, min(parts, int(duration_s // min_part_s)))
    total = int(np.floor(duration_s * fps))
    starts = [int(round(k * total / count)) for k in range(count)]
    if keyframe_near is not None:
        for k in range(1, count):
            keyframe = keyframe_near(starts[k] / fps)
            if keyframe is None:
                continue
            # 1e-6: a keyframe on the grid (as the timestamp arithmetic may leave it) is that frame.
            snapped = int(np.ceil(keyframe * fps - 1e-6))
            upper = starts[k + 1] if k + 1 < count else total
            if starts[k - 1] < snapped < upper:
                starts[k] = snapped
    return [TimePart(start, (starts[k + 1] - start) if k + 1 < count else None) for k, start in enumerate(starts)]


class KeyframeIndex:
    """Keyframe times of a video's first video stream, looked up in the container's index (no decoding).

    Times are on ffmpeg's clock for the file (the container's start time is 0), as ``-ss`` reads them.
    ``near`` gives None when the container cannot seek or has no index: time parts then start on
    their even split points, which only costs some decoding in vain.
    """

    def __init__(self, path: str | Path):
        try:
            self._container = av.open(str(path))
            self._stream = self._container.streams.video[0]
        except (av.FFmpegError, OSError, IndexError):
            self._container = None
        else:
            self._offset_s = (self._container.start_time or 0) / av.time_base

    def __enter__(self) -> "KeyframeIndex":
        return self

    def __exit__(self, *exc) -> None:
        if self._container is not None:
            self._container.close()

    def near(self, time_s: float) -> float | None:
        if self._container is None:
            return None
        found = [self._keyframe(time_s, backward) for backward in (True, False)]
        found = [t for t in found if t is not None]
        return min(found, key=lambda t: abs(t - time_s)) if found else None

    def picture_format(self) -> tuple[str, str] | None:
        """(codec, pixel format) of the video stream, e.g. ("h264", "yuv420p"); None when unreadable."""
        if self._container is None:
            return None
        context = self._stream.codec_context
        return (context.name, context.format.name) if context.format is not None else None

    def at_or_after(self, time_s: float) -> float | None:
        """The first keyframe at or after ``time_s`` (None: none, or no index)."""
        return None if self._container is None else self._keyframe(time_s, backward=False)

    def _keyframe(self, time_s: float, backward: bool) -> float | None:
        """The keyframe at or before (``backward``) or at or after ``time_s``."""
        stream = self._stream
        target = int((time_s + self._offset_s) / stream.time_base)
        try:
            self._container.seek(target, stream=stream, backward=backward)
            for packet in self._container.demux(stream):
                if packet.pts is not None:
                    keyframe = float(packet.pts * stream.time_base) - self._offset_s
                    on_its_side = keyframe <= time_s + 1e-6 if backward else keyframe >= time_s - 1e-6
                    return keyframe if packet.is_keyframe and on_its_side else None
        except (av.FFmpegError, OSError):
            return None
        return None


def _drain(fd: int, chunks: list[bytes]) -> None:
    with os.fdopen(fd, "rb") as stream:
        while True:
            chunk = stream.read(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)


def decode_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """The first audio stream as mono float32 at ``sample_rate``; raises StageError if ffmpeg fails."""
    path = Path(path)
    command = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
               "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(sample_rate), "-af", audio_on_the_clock(),
               "-f", "f32le", "pipe:1"]
    completed = subprocess.run(command, capture_output=True)
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip()[-_STDERR_CHARS:]
        raise StageError(f"ffmpeg cannot decode the audio of {path.name}: {message}", ErrorKind.UNREADABLE)
    return np.frombuffer(completed.stdout, np.float32).copy()
