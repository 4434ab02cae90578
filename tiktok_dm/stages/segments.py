"""Segments stage: cut a clip into fixed-length segments in the official D2M layout.

Names follow the official lists: ``{compilation:06d}_{music}_{clip}_seg{K}`` with K from 1;
audio goes to ``d2m/audio_s2/NAME.wav`` (mono, 22050 Hz) and motion to
``d2m/motion_s2/NAME.npy`` (frames x joints*3 of the main dancer, 30 fps on the audio's timeline).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import soundfile as sf

from tiktok_dm.config import BuildConfig, SegmentConfig
from tiktok_dm.model.atomic import atomic_path
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.names import D2MIndex, format_segment_name
from tiktok_dm.model.outputs import SegmentFile, SegmentsOutput
from tiktok_dm.model.status import ErrorKind, StageError
from tiktok_dm.stages.base import Stage

AUDIO_DIR = "audio_s2"
MOTION_DIR = "motion_s2"


@dataclasses.dataclass(frozen=True)
class SegmentItem:
    clip_id: str
    index: D2MIndex
    audio_path: str  # relative to the build directory
    poses_path: str
    pose_input_hash: str = ""  # the poses (and through them the cut clip) the segments are made from

    def identity(self) -> str:
        return repr((self.clip_id, self.index, self.audio_path, self.poses_path, self.pose_input_hash))


class SegmentStage(Stage[SegmentItem, SegmentsOutput]):
    output_type = SegmentsOutput

    config: SegmentConfig

    @classmethod
    def from_config(cls, config: BuildConfig, build_dir: BuildDir) -> "SegmentStage":
        return cls(config.segment, build_dir)

    def key(self, item: SegmentItem) -> str:
        return item.clip_id

    def run(self, item: SegmentItem) -> SegmentsOutput:
        from tiktok_dm.pose import PoseSequence
        from tiktok_dm.pose.layouts import main_person_track, resample_to_fps, to_motion_array

        config = self.config
        audio, sample_rate = sf.read(str(self.build_dir.absolute(item.audio_path)), dtype="float32", always_2d=False)
        if sample_rate != config.sample_rate or audio.ndim != 1:
            raise StageError(f"clip {item.clip_id}: expected mono {config.sample_rate} Hz audio, "
                             f"got {audio.ndim} channel(s) at {sample_rate} Hz", ErrorKind.UNREADABLE)
        samples_per_segment = round(config.seconds * config.sample_rate)
        frames_per_segment = round(config.seconds * config.fps)
        count = (math.ceil if config.keep_partial else math.floor)(len(audio) / samples_per_segment)
        if count == 0:
            raise StageError(f"clip {item.clip_id}: {len(audio) / sample_rate:.2f} s is shorter than one "
                             f"{config.seconds:g}-s segment", ErrorKind.BAD_SPAN)

        sequence = PoseSequence.load(self.build_dir.absolute(item.poses_path))
        track = resample_to_fps(main_person_track(sequence), sequence.frame_times, config.fps,
                                count * frames_per_segment)
        motion = to_motion_array(track, config.motion_layout, sequence.width, sequence.height)
        audio = np.pad(audio, (0, max(0, count * samples_per_segment - len(audio))))

        segments = []
        for k in range(1, count + 1):
            name = format_segment_name(item.index.compilation, item.index.music, item.index.clip, k)
            audio_target = self.build_dir.d2m / AUDIO_DIR / f"{name}.wav"
            motion_target = self.build_dir.d2m / MOTION_DIR / f"{name}.npy"
            audio_piece = audio[(k - 1) * samples_per_segment: k * samples_per_segment]
            motion_piece = motion[(k - 1) * frames_per_segment: k * frames_per_segment]
            with atomic_path(audio_target) as tmp:
                sf.write(str(tmp), audio_piece, config.sample_rate, subtype="PCM_16")
            with atomic_path(motion_target) as tmp:
                np.save(tmp, motion_piece.astype(np.float32))
            segments.append(SegmentFile(
                segment=name, k=k, start_s=(k - 1) * config.seconds, end_s=k * config.seconds,
                audio=self.build_dir.relative(audio_target), motion=self.build_dir.relative(motion_target),
                motion_visible=float(np.mean(motion_piece.reshape(frames_per_segment, -1, 3)[..., 2] > 0)),
            ))
        self._remove_stale_segments(item.clip_id, keep={s.audio for s in segments} | {s.motion for s in segments})
        return SegmentsOutput(segments=tuple(segments), motion_layout=config.motion_layout,
                              compilation_index=item.index.compilation, music_index=item.index.music,
                              clip_index=item.index.clip)

    def _remove_stale_segments(self, clip_id: str, keep: set[str]) -> None:
        """A clip redone with another span or song id must not leave its old segment files behind."""
        previous = self.build_dir.read_record(SegmentsOutput, clip_id)
        if previous is None or not previous.ok:
            return
        for relative in previous.output.files():
            if relative not in keep:
                self.build_dir.absolute(relative).unlink(missing_ok=True)
