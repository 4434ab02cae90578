"""Cut stage: one clip span of a downloaded compilation -> clip video (with audio) + mono wav.

Boundaries are frame-accurate because the clip is re-encoded: with ``-ss`` before ``-i`` ffmpeg
seeks to the keyframe before the start and decodes up to it; ``-c copy`` could only cut at
keyframes, seconds away from the annotated boundary. Where the span does start and end on keyframes
(compilations put them at their scene cuts) and the source is H.264 yuv420p, the picture is copied whole
GOP by whole GOP instead (``cut.copy_whole_gops``): the same frames, no decode, no encode. A copy whose frame
count is not the span's is redone as a re-encode.
"""

from __future__ import annotations

import dataclasses
import math

import av
import numpy as np
import soundfile as sf

from tiktok_dm.boundaries.decode import KeyframeIndex
from tiktok_dm.config import BuildConfig, CutConfig
from tiktok_dm.media import audio_on_the_clock, ffmpeg_version, probe, run_ffmpeg
from tiktok_dm.model.atomic import atomic_path
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.manifest import ClipSpec
from tiktok_dm.model.outputs import CutOutput
from tiktok_dm.model.status import ErrorKind, StageError
from tiktok_dm.stages.base import Stage


@dataclasses.dataclass(frozen=True)
class CutItem:
    clip: ClipSpec
    source_path: str  # relative to the build directory
    source_duration_s: float
    source_fps: float
    source_has_audio: bool
    source_sha256: str = ""

    def identity(self) -> str:
        """What the cut depends on: the span and the source bytes (not the song id, notes or line number)."""
        return repr((self.clip.clip_id, self.clip.start_s, self.clip.end_s, self.source_path, self.source_sha256))


class CutStage(Stage[CutItem, CutOutput]):
    output_type = CutOutput

    config: CutConfig

    @classmethod
    def from_config(cls, config: BuildConfig, build_dir: BuildDir) -> "CutStage":
        return cls(config.cut, build_dir)

    def key(self, item: CutItem) -> str:
        return item.clip.clip_id

    def run(self, item: CutItem) -> CutOutput:
        clip = item.clip
        if not item.source_has_audio:
            raise StageError(f"clip {clip.clip_id}: compilation {clip.compilation_id} has no audio track",
                             ErrorKind.NO_AUDIO)
        one_frame = 1.0 / item.source_fps if item.source_fps > 0 else 0.05
        if clip.end_s > item.source_duration_s + one_frame:
            raise StageError(f"clip {clip.clip_id} (manifest line {clip.line}) ends at {clip.end_s:.3f} s, after the end "
                             f"of compilation {clip.compilation_id} ({item.source_duration_s:.3f} s)",
                             ErrorKind.BAD_SPAN)

        video_path = self.build_dir.clips / f"{clip.clip_id}.mp4"
        audio_path = self.build_dir.clip_audio / f"{clip.clip_id}.wav"
        copy = _whole_gops(self.build_dir.absolute(item.source_path), item) if self.config.copy_whole_gops else None
        with atomic_path(video_path) as video_tmp, atomic_path(audio_path) as audio_tmp:
            run_ffmpeg(self._ffmpeg_args(item, video_tmp, audio_tmp, copy), what=f"cut clip {clip.clip_id}")
            if copy and not _copy_holds_span(video_tmp, clip.duration_s, item.source_fps):
                copy = None  # e.g. an open GOP: the re-encode is exact
                run_ffmpeg(self._ffmpeg_args(item, video_tmp, audio_tmp, copy), what=f"cut clip {clip.clip_id}")
            peak_dbfs = _peak_dbfs(audio_tmp)
            if peak_dbfs < self.config.silence_peak_dbfs:
                raise StageError(f"clip {clip.clip_id}: audio is silent (peak {peak_dbfs:.1f} dBFS, "
                                 f"threshold {self.config.silence_peak_dbfs} dBFS)", ErrorKind.NO_AUDIO)
        media = probe(video_path, count_frames=True)
        audio_info = sf.info(str(audio_path))
        return CutOutput(
            video=self.build_dir.relative(video_path),
            audio=self.build_dir.relative(audio_path),
            duration_s=media.duration_s,
            audio_duration_s=audio_info.frames / audio_info.samplerate,
            audio_samples=audio_info.frames,
            sample_rate=audio_info.samplerate,
            frames=media.video_frames,
            fps=media.fps,
            width=media.width,
            height=media.height,
            peak_dbfs=peak_dbfs,
            ffmpeg_version=ffmpeg_version(),
            video_copied=copy is not None,
        )

    def _ffmpeg_args(self, item: CutItem, video_out, audio_out, copy: GopCopy | None) -> list[str]:
        """ffmpeg's arguments for the clip; with ``copy``, the picture's packets copied from its first keyframe."""
        clip, config = item.clip, self.config
        source = self.build_dir.absolute(item.source_path)
        duration = f"{clip.duration_s:.6f}"
        samples = round(clip.duration_s * config.sample_rate)
        sound_input = ["-ss", f"{clip.start_s:.6f}", "-i", source]
        if copy is None:
            inputs, picture, sound = sound_input, "0:v:0", "0:a:0"
            video = ["-c:v", config.video_codec, "-preset", config.preset, "-crf", str(config.crf),
                     "-pix_fmt", "yuv420p"]
        else:
            # The picture from its keyframe, an input of its own (the sound starts exactly at the span's start). The
            # first N packets in decode order are the span's N frames when it is whole GOPs (-t alone lets the next
            # keyframe and the packets decoded before its B-frames through).
            inputs = ["-ss", f"{copy.first_keyframe_s:.6f}", "-i", source, *sound_input]
            picture, sound = "0:v:0", "1:a:0"
            video = ["-c:v", "copy", "-frames:v", str(copy.frames)]
        return [
            *inputs, "-t", duration, "-map", picture, "-map", sound, *video,
            "-c:a", config.audio_codec, "-threads", str(config.ffmpeg_threads), "-map_metadata", "-1",
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", video_out,
            # Exactly as many samples as the span: an AAC stream seeks to a frame boundary (a few samples
            # short) and a compilation's audio often ends before its picture; pad, then trim.
            "-map", sound, "-af", f"{audio_on_the_clock(config.sample_rate)},apad=whole_len={samples},"
                                  f"atrim=end_sample={samples}",
            "-ac", "1", "-c:a", "pcm_s16le",
            "-map_metadata", "-1", "-fflags", "+bitexact", audio_out,
        ]


@dataclasses.dataclass(frozen=True)
class GopCopy:
    """The picture of a span that is whole GOPs: copied from this keyframe, this many frames."""

    first_keyframe_s: float
    frames: int


def _whole_gops(source: str, item: CutItem) -> GopCopy | None:
    """Where to copy the picture from and how many frames, when the span is whole GOPs of an H.264 yuv420p source.

    A re-encode with ``-ss start -t duration`` keeps the frames shown at ``start`` <= t < ``end``. Copying the
    packets from a keyframe gives the same frames when that keyframe is the first frame at or after ``start``
    (within one frame after it), and when the span's last frame is followed by a keyframe or by the source's end:
    the frames from one keyframe up to the next are a closed group (x264's default), decodable alone.
    """
    clip = item.clip
    if item.source_fps <= 0:
        return None
    frame_s = 1.0 / item.source_fps
    with KeyframeIndex(source) as keyframes:
        if keyframes.picture_format() != ("h264", "yuv420p"):
            return None
        first = keyframes.at_or_after(clip.start_s - 1e-4)
        if first is None or first >= clip.start_s + frame_s - 1e-4:
            return None
        if clip.end_s >= item.source_duration_s - frame_s / 2:
            return GopCopy(first, round((clip.end_s - first) * item.source_fps))
        after = keyframes.at_or_after(clip.end_s - 1e-4)
        if after is None or after >= clip.end_s + frame_s - 1e-4:
            return None
        return GopCopy(first, round((after - first) * item.source_fps))


def _copy_holds_span(path, duration_s: float, fps: float) -> bool:
    """The copied picture is the span's frames (one either way for rounding) and decodes alone: it opens on its
    keyframe and no frame is shown before it (an open GOP's leading frames would need the group before)."""
    try:
        with av.open(str(path)) as container:
            packets = [(packet.pts, packet.is_keyframe) for packet in container.demux(container.streams.video[0])
                       if packet.size and packet.pts is not None]
    except (av.FFmpegError, OSError, IndexError):
        return False
    if not packets or not packets[0][1] or min(pts for pts, _ in packets) < packets[0][0]:
        return False
    return abs(len(packets) - duration_s * fps) <= 1


def _peak_dbfs(wav_path) -> float:
    samples, _ = sf.read(str(wav_path), dtype="float32", always_2d=False)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else -math.inf
