"""What each stage makes of one item: one frozen type per stage, read by attribute, never by string key.

Paths are relative to the build directory. Each type names its stage (``stage``), which is also the
folder of its records (``results/<stage>/``), and the files it wrote (``files()``). Field names are the
keys of the record's JSON.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


@dataclasses.dataclass(frozen=True)
class DownloadOutput:
    """A compilation video, downloaded once per URL."""

    stage: ClassVar[str] = "download"

    compilation_id: str
    url: str
    path: str
    sha256: str
    bytes: int
    duration_s: float
    has_audio: bool
    width: int
    height: int
    fps: float
    title: str | None
    extractor: str | None
    yt_dlp_version: str

    def files(self) -> tuple[str, ...]:
        return (self.path,)


@dataclasses.dataclass(frozen=True)
class ProposedSpan:
    start_s: float
    end_s: float
    confidence: float


@dataclasses.dataclass(frozen=True)
class BoundaryOutput:
    """The clips proposed for a compilation given without spans (also written as a CSV)."""

    stage: ClassVar[str] = "boundaries"

    clips: tuple[ProposedSpan, ...]
    csv: str
    duration_s: float
    has_audio: bool
    warnings: tuple[str, ...] = ()

    def files(self) -> tuple[str, ...]:
        return (self.csv,)


@dataclasses.dataclass(frozen=True)
class CutOutput:
    """A clip cut out of its compilation: the video (with sound) and its mono wav."""

    stage: ClassVar[str] = "cut"

    video: str
    audio: str
    duration_s: float
    audio_duration_s: float
    audio_samples: int
    sample_rate: int
    frames: int | None
    fps: float
    width: int
    height: int
    peak_dbfs: float
    ffmpeg_version: str
    # The picture is the source's own H.264, copied whole GOP by whole GOP (the span starts and ends on keyframes),
    # not re-encoded.
    video_copied: bool = False

    def files(self) -> tuple[str, ...]:
        return (self.video, self.audio)


@dataclasses.dataclass(frozen=True)
class FingerprintOutput:
    """A clip's audio fingerprint (spectral peaks), stored for the build's song-id index."""

    stage: ClassVar[str] = "fingerprint"

    path: str
    num_peaks: int
    duration_s: float

    def files(self) -> tuple[str, ...]:
        return (self.path,)


@dataclasses.dataclass(frozen=True)
class PoseOutput:
    """A clip's skeletons (``poses``, a pose .npz) and its pose QA figures."""

    stage: ClassVar[str] = "pose"

    poses: str
    backend: str
    backend_version: str
    checkpoint: str
    frames: int
    persons: int
    person_coverage: float
    mean_confidence: float
    num_tracks: int
    main_track: int | None
    pose_flags: tuple[str, ...]
    # tiktok_dm.pose.qa.PoseQA.to_dict() (rebuilt with PoseQA.from_dict): the pose library's own type.
    pose_qa: dict[str, Any]

    def files(self) -> tuple[str, ...]:
        return (self.poses,)


@dataclasses.dataclass(frozen=True)
class SegmentFile:
    """One fixed-length segment of a clip in the official D2M layout."""

    segment: str  # the official name, {compilation:06d}_{music}_{clip}_seg{k}
    k: int
    start_s: float
    end_s: float
    audio: str
    motion: str
    motion_visible: float  # share of the main dancer's joints visible in the segment


@dataclasses.dataclass(frozen=True)
class SegmentsOutput:
    stage: ClassVar[str] = "segments"

    segments: tuple[SegmentFile, ...]
    motion_layout: str
    compilation_index: int
    music_index: int
    clip_index: int

    def files(self) -> tuple[str, ...]:
        return tuple(path for segment in self.segments for path in (segment.audio, segment.motion))
