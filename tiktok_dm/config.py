"""Typed build configuration. Defaults live here; YAML files in ``tiktok_dm/configs`` override them.

Unknown keys are an error (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from tiktok_dm.boundaries.config import BoundaryConfig
from tiktok_dm.download.config import DownloadConfig
from tiktok_dm.model.overrides import apply_override
from tiktok_dm.pose.config import ContentConfig
from tiktok_dm.quality.config import QAConfig
from tiktok_dm.songs.config import SongsConfig

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclasses.dataclass
class CutConfig:
    video_codec: str = "libx264"
    crf: int = 18
    preset: str = "veryfast"
    audio_codec: str = "aac"
    sample_rate: int = 22050
    # A clip whose audio never rises above this peak level is treated as silent.
    silence_peak_dbfs: float = -50.0
    ffmpeg_threads: int = 1
    # Copy the source's picture instead of re-encoding it where that is frame-exact: the span starts on a keyframe
    # and ends on one (or at the source's end), and the source is H.264 yuv420p like the re-encodes. Compilations
    # put keyframes at their scene cuts, so most clips qualify (bench/cut.py: 14 of 22 spans). It costs no decode
    # or encode and no generation loss; the sound is re-encoded either way (sample-exact).
    copy_whole_gops: bool = True


# The pose backends a config may name (tiktok_dm.pose.BACKENDS builds them; kept here so the CLI lists them without
# importing the pose package).
POSE_BACKENDS = ("mediapipe", "landmarker", "movenet", "openpifpaf")


@dataclasses.dataclass
class PoseConfig:
    # landmarker: BlazePose through MediaPipe's Tasks API, every person up to num_poses (tiktok_dm.pose.
    # landmarker_backend); mediapipe: the legacy single-person BlazePose of mediapipe 0.10.14 (Python <= 3.12);
    # openpifpaf: multi-person, bottom-up. bench/pose.py --layouts (68 clips of ../shared footage in 720p layouts,
    # pose on the picture): landmarker a person in >= 98 % of frames of 60/60 single-dancer clips, both players
    # of the two-person basketball video in 4/4 layouts, at the mediapipe backend's speed for one dancer.
    backend: str = "landmarker"
    # Clips whose manifest row gives more than one dancer are posed by this backend instead ("" or null: `backend`
    # poses every clip; a clip without a count is posed by `backend`, looking for up to num_poses people).
    # movenet: MoveNet.MultiPose, bottom-up, up to 6 people (tiktok_dm.pose.movenet_backend): BlazePose's
    # face-anchored detector keeps one of two people whose boxes overlap, so dancers in a row were lost. Dancers seen
    # at once matching the footage (bench/pose.py --layouts): calibration clips landmarker 4/8, movenet 8/8; held-out
    # clips (5 other videos) landmarker 8/20, movenet 20/20.
    multi_backend: str | None = "movenet"
    # The backend's weights. openpifpaf: a checkpoint file, or an openpifpaf name (None = shufflenetv2k16, downloaded
    # to torch's cache). landmarker: a .task bundle (None = the cached copy, fetched from landmarker_url on first
    # use; offline, `tiktok-dm pose-model --from-package` writes it).
    checkpoint: str | None = None
    # landmarker: the most people posed in a frame (the paper's TikTok clips show up to five dancers) ...
    num_poses: int = 5
    # ... or, for a clip whose manifest row gives num_dancers, that many: its person detector then runs only while
    # one of them is lost (one dancer: the mediapipe backend's speed, ~1.7x faster than looking for five on every
    # frame), but people beyond the manifest's count are never posed, so pose QA cannot report them.
    num_poses_from_manifest: bool = True
    # landmarker: where its bundle is fetched from (None = Google's release,
    # tiktok_dm.pose.landmarker_model.DEFAULT_LANDMARKER_URL); download_model false: never fetch, fail naming the file.
    landmarker_url: str | None = None
    download_model: bool = True
    # openpifpaf: where its network runs ("auto": CUDA when torch sees a GPU, else the CPU). On a Ray cluster with
    # GPUs each openpifpaf pose item asks for gpu_per_item of one (MediaPipe's Python wheels run on the CPU only).
    device: str = "auto"
    gpu_per_item: float = 0.25
    # Pose on the picture of a compilation layout (bars, a blurred copy, side panels cut away), found on the clip's
    # first frames (tiktok_dm.pose.content); keypoints stay in the frame's pixels.
    content: ContentConfig = dataclasses.field(default_factory=ContentConfig)
    # movenet: its .tflite (None = the cached copy, fetched from movenet_url on first use, None = Google's release,
    # tiktok_dm.pose.movenet_backend.DEFAULT_MOVENET_URL), the long side in pixels of the picture the network sees
    # (a multiple of 32; chosen on the calibration clips: 256, the model card's size, missed the second child of
    # sam2_bedroom, 320 and 384 found both, 384 with more frames to spare; see tiktok_dm/pose/movenet_backend.py),
    # and the score a person needs (not tuned).
    movenet_model: str | None = None
    movenet_url: str | None = None
    movenet_input_size: int = 384
    movenet_min_person_score: float = 0.2
    # Frames with fewer visible joints than this are treated as "no person".
    min_visible_joints: int = 4
    min_joint_confidence: float = 0.3
    # Process at most this many frames per second of video (0 = every frame).
    max_fps: float = 30.0
    require_person: bool = True


@dataclasses.dataclass
class SongIdConfig:
    # Fingerprint every cut clip's audio: clips without song_id get one from their fingerprint cluster
    # (a given id of the clips they match, else a new 'fp:<clip_id>' or 'lib:<track>'), given ids are kept
    # and checked (song_contradictions.csv). False: clips without song_id are skipped, as before.
    enabled: bool = True
    # Full reference tracks of the songs (a folder of audio files, the song = file name without suffix,
    # or a 'tiktok-dm songs' index folder): clips of one song that share no audio still get one id through
    # its track. None: clips are joined only where they share audio.
    library: str | None = None
    # Fingerprint and matching settings (tiktok_dm/songs/config.py; thresholds calibrated there).
    fingerprint: SongsConfig = dataclasses.field(default_factory=SongsConfig)


@dataclasses.dataclass
class SegmentConfig:
    seconds: float = 2.0
    fps: int = 30
    sample_rate: int = 22050
    # "body25": the official (60, 75) OpenPose layout; "coco17": (60, 51).
    motion_layout: str = "body25"
    # A trailing piece shorter than ``seconds`` is dropped, as the official lists imply.
    keep_partial: bool = False


@dataclasses.dataclass
class SplitConfig:
    test_fraction: float = 53 / 445
    seed: int = 0
    # A folder under splits/ (or any path) whose train/test files fix the song -> split assignment.
    song_assignment: str | None = None


@dataclasses.dataclass
class ExportConfig:
    rows_per_shard: int = 200
    license: str = "other"
    dataset_name: str = "tiktok-dance-music"


@dataclasses.dataclass
class ExecutorConfig:
    # "ray" fans stages out as Ray tasks; "local" runs them one after another in this process.
    kind: str = "ray"
    ray_address: str | None = None
    num_cpus: int | None = None
    # How often Ray re-runs a task whose worker process died before recording it as a failure.
    max_retries: int = 2
    # --ray-address: how long the cluster may take to answer before the build ends (exit 3), naming the address.
    connect_timeout_s: float = 10.0
    # A cluster whose head stops answering for this long is lost: the build ends with what finished (exit 3).
    # Ray itself ends the process after 60 s without its head, so this stays well below.
    lost_after_s: float = 15.0
    # --ray-address: send this installation's tiktok_dm package to the cluster's workers with the job (Ray's
    # runtime_env py_modules), so a node needs the dependencies only, and every node runs the driver's code ...
    ship_package: bool = True
    # ... and pip requirements Ray installs for the job on every node (runtime_env pip), e.g. the pins of
    # `pip freeze` on the driver; empty: the nodes' own environment.
    worker_pip: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class BuildConfig:
    download: DownloadConfig = dataclasses.field(default_factory=DownloadConfig)
    boundaries: BoundaryConfig = dataclasses.field(default_factory=BoundaryConfig)
    cut: CutConfig = dataclasses.field(default_factory=CutConfig)
    songs: SongIdConfig = dataclasses.field(default_factory=SongIdConfig)
    pose: PoseConfig = dataclasses.field(default_factory=PoseConfig)
    segment: SegmentConfig = dataclasses.field(default_factory=SegmentConfig)
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    quality: QAConfig = dataclasses.field(default_factory=QAConfig)
    executor: ExecutorConfig = dataclasses.field(default_factory=ExecutorConfig)

    @classmethod
    def from_yaml(cls, path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> "BuildConfig":
        """Defaults, overridden by ``path`` (a file, or the name of a file in tiktok_dm/configs), then by each
        ``section.key=value`` of ``overrides`` (the value read as YAML: 2, 0.5, true, null, a string)."""
        data: dict[str, Any] = {}
        where = "defaults"
        if path is not None:
            path = Path(path)
            if not path.exists() and (CONFIG_DIR / f"{path.name}.yaml").exists():
                path = CONFIG_DIR / f"{path.name}.yaml"
            if not path.exists():
                known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
                raise FileNotFoundError(f"config {path} not found (built-in configs: {known})")
            data, where = yaml.safe_load(path.read_text()) or {}, str(path)
        for override in overrides:
            _apply_override(data, override)
        return _from_dict(cls, data, where=where + (f" with --set {' '.join(overrides)}" if overrides else ""))

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-safe values (tuples as lists)."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _apply_override(data: dict[str, Any], override: str) -> None:
    if "." not in override.partition("=")[0]:
        raise ValueError(f"--set {override!r} is not section.key=value (e.g. download.max_per_host=1)")
    apply_override(data, override)


def _check_scalar(name: str, hint: Any, value: Any, where: str) -> Any:
    """A plain setting's value, checked against its type (int where a float is asked is fine)."""
    options = set(typing.get_args(hint)) if typing.get_origin(hint) in (typing.Union, types.UnionType) else {hint}
    if value is None and type(None) in options:
        return value
    plain = options - {type(None)}
    lists = [option for option in plain if typing.get_origin(option) is list]
    if lists and len(plain) == 1:  # list[X]: a list whose items are X
        item = (typing.get_args(lists[0]) or (object,))[0]
        if not isinstance(value, list) or not all(isinstance(entry, item) for entry in value):
            raise ValueError(f"{where}: {name} must be a list of {item.__name__}, not {value!r}")
        return value
    if not plain <= {int, float, str, bool}:
        return value  # tuples, other types: taken as they are
    if float in plain and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not any(isinstance(value, kind) and not (kind is int and isinstance(value, bool)) for kind in plain):
        wanted = " or ".join(sorted(kind.__name__ for kind in options))
        raise ValueError(f"{where}: {name} must be {wanted}, not {value!r}")
    return value


def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(fields)}")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _from_dict(hint, value or {}, where=f"{where}:{name}")
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            values[name] = tuple(value)
        else:
            values[name] = _check_scalar(name, hint, value, where)
    return cls(**values)
