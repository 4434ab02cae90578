"""Every stage of the registry meets the stage contract on a small item made here: a file-safe key, an input
hash that follows the item and the settings, a run that writes a typed record which reads back equal, and a
resume that redoes nothing. A stage added to the registry without a case here fails this test."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from tiktok_dm.config import BuildConfig
from tiktok_dm.media import probe
from tiktok_dm.model.build_dir import BuildDir, sha256_of
from tiktok_dm.model.manifest import ClipSpec
from tiktok_dm.model.names import D2MIndex
from tiktok_dm.model.records import StageRecord
from tiktok_dm.model.status import Status
from tiktok_dm.pipeline.distribute import LocalExecutor, run_stage
from tiktok_dm.pose.sequence import PoseSequence
from tiktok_dm.stages.base import Stage, input_hash, run_item
from tiktok_dm.stages.boundaries import BoundaryItem
from tiktok_dm.stages.cut import CutItem
from tiktok_dm.stages.download import DownloadItem
from tiktok_dm.stages.fingerprint import FingerprintItem
from tiktok_dm.stages.pose import PoseItem
from tiktok_dm.stages.registry import STAGE_TYPES, BuildStages
from tiktok_dm.stages.segments import SegmentItem
from tiktok_dm.testing.compose import CompilationPart, compose_compilation
from tiktok_dm.testing.dancer import write_dancer_video
from tiktok_dm.testing.loopback import serve_directory
from tiktok_dm.testing.music import synth_song

RATE = 22050
SECONDS = 4.0


@dataclasses.dataclass(frozen=True)
class Media:
    folder: Path  # served on loopback
    base_url: str
    video: Path  # a drawn dancer to synthesised music, 4 s, 320x240, with sound
    song: np.ndarray  # the music, mono at RATE


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contract_media")
    dancer = write_dancer_video(folder / "dancer.mp4", seconds=SECONDS, fps=30, width=320, height=240, bpm=120, seed=1)
    song = synth_song(SECONDS, RATE, 120, 146.8, seed=0)
    compose_compilation([CompilationPart(dancer, SECONDS, song, RATE)], folder / "clip.mp4", width=320, height=240)
    with serve_directory(folder) as base_url:
        yield Media(folder, base_url, folder / "clip.mp4", song)


def _in_build(build_dir: BuildDir, source: Path, relative: str) -> str:
    target = build_dir.root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return relative


def _download(build_dir: BuildDir, media: Media) -> tuple[DownloadItem, DownloadItem]:
    item = DownloadItem("c0", f"{media.base_url}/clip.mp4")
    return item, dataclasses.replace(item, url=f"{media.base_url}/dancer.mp4")


def _boundaries(build_dir: BuildDir, media: Media) -> tuple[BoundaryItem, BoundaryItem]:
    path = _in_build(build_dir, media.video, "sources/clip.mp4")
    item = BoundaryItem("c0", path, sha256_of(media.video))
    return item, dataclasses.replace(item, source_sha256="another source")


def _cut(build_dir: BuildDir, media: Media) -> tuple[CutItem, CutItem]:
    path = _in_build(build_dir, media.video, "sources/clip.mp4")
    info = probe(media.video)
    spec = ClipSpec("c0", f"{media.base_url}/clip.mp4", "clip0", 0.5, 3.5, "s", 1, line=2)
    item = CutItem(spec, path, info.duration_s, info.fps, info.has_audio, sha256_of(media.video))
    return item, dataclasses.replace(item, clip=dataclasses.replace(spec, end_s=3.0))


def _fingerprint(build_dir: BuildDir, media: Media) -> tuple[FingerprintItem, FingerprintItem]:
    target = build_dir.root / "clip_audio" / "clip0.wav"
    target.parent.mkdir(parents=True)
    sf.write(target, media.song, RATE)
    item = FingerprintItem("clip0", build_dir.relative(target), cut_input_hash="cut-1")
    return item, dataclasses.replace(item, cut_input_hash="cut-2")


def _pose(build_dir: BuildDir, media: Media) -> tuple[PoseItem, PoseItem]:
    item = PoseItem("clip0", _in_build(build_dir, media.video, "clips/clip0.mp4"), cut_input_hash="cut-1",
                    num_dancers=1)
    return item, dataclasses.replace(item, num_dancers=2)


def _segments(build_dir: BuildDir, media: Media) -> tuple[SegmentItem, SegmentItem]:
    audio = build_dir.root / "clip_audio" / "clip0.wav"
    audio.parent.mkdir(parents=True)
    sf.write(audio, media.song, RATE, subtype="PCM_16")
    frames = int(SECONDS * 30)
    keypoints = np.random.default_rng(0).uniform(10, 200, (frames, 1, 17, 3)).astype(np.float32)
    keypoints[..., 2] = 0.9
    poses = PoseSequence(keypoints, np.zeros((frames, 1), np.int32), np.arange(frames) / 30, 30, 320, 240)
    poses.save(build_dir.root / "poses" / "clip0.npz")
    item = SegmentItem("clip0", D2MIndex(1, 2, 3), build_dir.relative(audio), "poses/clip0.npz", pose_input_hash="p1")
    return item, dataclasses.replace(item, index=D2MIndex(1, 4, 3))


# stage name -> (an item whose run succeeds, the same item changed in what its output depends on)
CASES: dict[str, Callable[[BuildDir, Media], tuple[object, object]]] = {
    "download": _download, "boundaries": _boundaries, "cut": _cut, "fingerprint": _fingerprint, "pose": _pose,
    "segments": _segments,
}


# stage name -> a setting that shapes the stage's output, changed
SETTING_CHANGES: dict[str, dict[str, object]] = {
    "download": {"format": "b"}, "boundaries": {"min_clip_s": 2.5}, "cut": {"crf": 30},
    "fingerprint": {"min_duration_s": 2.0}, "pose": {"max_fps": 10.0}, "segments": {"seconds": 1.0},
}


def test_the_registry_names_each_stage_by_its_records():
    assert list(STAGE_TYPES) == ["download", "boundaries", "cut", "fingerprint", "pose", "segments"]
    for name, stage in STAGE_TYPES.items():
        assert issubclass(stage, Stage) and stage.name == name == stage.output_type.stage
    assert set(CASES) == set(SETTING_CHANGES) == set(STAGE_TYPES), "every registered stage needs a case here"


@pytest.mark.parametrize("name", list(STAGE_TYPES))
def test_stage_contract(name, media, tmp_path):
    build_dir = BuildDir(tmp_path / "build")
    stage = getattr(BuildStages.from_config(BuildConfig.from_yaml("debug"), build_dir), name)
    item, changed = CASES[name](build_dir, media)

    key = stage.key(item)
    assert key and "/" not in key and not key.startswith(".")
    assert input_hash(stage, item) == input_hash(stage, dataclasses.replace(item))
    assert input_hash(stage, changed) != input_hash(stage, item)
    same_settings = type(stage)(dataclasses.replace(stage.config), build_dir)
    assert input_hash(same_settings, item) == input_hash(stage, item)
    other_settings = type(stage)(dataclasses.replace(stage.config, **SETTING_CHANGES[name]), build_dir)
    assert input_hash(other_settings, item) != input_hash(stage, item)

    record = run_item(stage, item)
    assert record.status is Status.OK, record.error
    assert isinstance(record.output, stage.output_type)
    assert build_dir.read_record(stage.output_type, key) == record
    assert record.input_hash == input_hash(stage, item)

    written = build_dir.record_path(stage.name, key).stat().st_mtime_ns
    (again,) = run_stage(LocalExecutor(), stage, [item], progress=False)
    assert again == record and build_dir.record_path(stage.name, key).stat().st_mtime_ns == written
    (redone,) = run_stage(LocalExecutor(), stage, [changed], progress=False)
    assert redone.input_hash == input_hash(stage, changed) != record.input_hash


def test_a_record_of_another_shape_is_redone_not_trusted(tmp_path):
    """A record written by another version (other output fields) reads as missing: the item is redone."""
    build_dir = BuildDir(tmp_path)
    path = build_dir.record_path("cut", "clip0")
    path.parent.mkdir(parents=True)
    path.write_text('{"stage": "cut", "key": "clip0", "status": "ok", "output": {"video": "x.mp4"}, '
                    '"input_hash": "h"}')
    from tiktok_dm.model.outputs import CutOutput

    assert build_dir.read_record(CutOutput, "clip0") is None
    with pytest.raises(ValueError, match="not a CutOutput record"):
        StageRecord.from_json(path.read_text(), CutOutput)
