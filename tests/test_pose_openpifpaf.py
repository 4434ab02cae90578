"""openpifpaf backend: checkpoint resolution and its error texts, and the full path frames ->
Predictor -> annotations -> our arrays with a checkpoint made locally in the same architecture
(a randomly initialised shufflenetv2k16: it detects nothing meaningful, so the tests check the
plumbing, not accuracy)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tiktok_dm.pose import PoseSequence, estimate_video, get_backend
from tiktok_dm.pose.openpifpaf_backend import (
    CHECKPOINT_OPTION,
    CheckpointUnavailableError,
    annotations_to_coco17,
    checkpoint_cache_path,
    resolve_checkpoint,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:SymbolDatabase.GetPrototype:UserWarning"),
    # openpifpaf's visualizer module, at import: not ours to fix.
    pytest.mark.filterwarnings("ignore:The set_bad function:PendingDeprecationWarning"),
]


def _need_openpifpaf() -> None:
    """Skip without openpifpaf, except on CI, where a missing optional dependency is a set-up bug."""
    if importlib.util.find_spec("openpifpaf") is not None:
        return
    reason = "openpifpaf is not installed (bash scripts/install_openpifpaf.sh compiles it, 10-25 min)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture()
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, so no checkpoint cached on this machine is found."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


FAKE_URLS = {"shufflenetv2k16": "http://127.0.0.1:9/shufflenetv2k16-210820-cocokp-7189450a.pkl"}


# --------------------------------------------------------------------------- checkpoints (no openpifpaf needed)


def test_missing_checkpoint_file_names_the_file_and_the_option(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "pifpaf.pkl"
    with pytest.raises(CheckpointUnavailableError) as error:
        resolve_checkpoint(missing)
    assert str(missing) in str(error.value)
    assert CHECKPOINT_OPTION == "--pose-checkpoint PATH" and CHECKPOINT_OPTION in str(error.value)


def test_an_unknown_checkpoint_name_lists_the_known_ones() -> None:
    with pytest.raises(CheckpointUnavailableError, match=r"'resnet9000'.*shufflenetv2k16.*--pose-checkpoint PATH"):
        resolve_checkpoint("resnet9000", urls=FAKE_URLS)


def test_offline_checkpoint_error_names_checkpoint_cache_path_and_how_to_supply_it(torch_home: Path) -> None:
    cache = checkpoint_cache_path(FAKE_URLS["shufflenetv2k16"])
    assert cache.is_relative_to(torch_home)
    # Port 9 (discard) on the loopback interface refuses at once: a download that fails offline.
    with pytest.raises(CheckpointUnavailableError) as error:
        resolve_checkpoint("shufflenetv2k16", urls=FAKE_URLS)
    text = str(error.value)
    assert "'shufflenetv2k16'" in text and "downloading it from" in text and "failed" in text
    assert "--pose-checkpoint PATH" in text and str(cache) in text
    with pytest.raises(CheckpointUnavailableError, match="downloading is off.*--pose-checkpoint PATH"):
        resolve_checkpoint("shufflenetv2k16", download=False, urls=FAKE_URLS)
    assert not cache.exists()


def test_a_cached_checkpoint_is_used_without_download(torch_home: Path) -> None:
    cache = checkpoint_cache_path(FAKE_URLS["shufflenetv2k16"])
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"weights")
    assert resolve_checkpoint("shufflenetv2k16", download=False, urls=FAKE_URLS) == cache
    local = torch_home / "mine.pkl"
    local.write_bytes(b"weights")
    assert resolve_checkpoint(local) == local


def test_a_named_checkpoint_is_downloaded_once_and_its_hash_checked(torch_home: Path, tmp_path: Path) -> None:
    from tiktok_dm.testing.loopback import serve_directory

    payload = b"pretend checkpoint"
    digest = hashlib.sha256(payload).hexdigest()[:8]
    served = tmp_path / "served"
    served.mkdir()
    (served / f"net-cocokp-{digest}.pkl").write_bytes(payload)
    (served / "bad-cocokp-00000000.pkl").write_bytes(payload)
    with serve_directory(served) as base:
        urls = {"net": f"{base}/net-cocokp-{digest}.pkl", "bad": f"{base}/bad-cocokp-00000000.pkl"}
        path = resolve_checkpoint("net", urls=urls)
        assert path == checkpoint_cache_path(urls["net"]) and path.read_bytes() == payload
        with pytest.raises(CheckpointUnavailableError, match="sha256"):
            resolve_checkpoint("bad", urls=urls)
    assert resolve_checkpoint("net", urls=urls) == path  # server gone: the cache answers
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no partial download left


def test_annotations_become_coco17_arrays_with_unfound_joints_as_nan() -> None:
    assert annotations_to_coco17([]).shape == (0, 17, 3)
    data = np.tile(np.array([[10.0, 20.0, 0.8]], dtype=np.float32), (17, 1))
    data[3] = (0.0, 0.0, 0.0)  # a joint openpifpaf did not find
    people = annotations_to_coco17([SimpleNamespace(data=data), SimpleNamespace(data=data * 2)])
    assert people.shape == (2, 17, 3) and people.dtype == np.float32
    assert np.isnan(people[0, 3, :2]).all() and people[0, 3, 2] == 0.0
    np.testing.assert_allclose(people[0, 0], (10, 20, 0.8), rtol=1e-6)
    assert people[1, 0, 2] == 1.0  # clipped to [0, 1]
    with pytest.raises(ValueError, match="COCO-17"):
        annotations_to_coco17([SimpleNamespace(data=np.zeros((24, 3)))])


# --------------------------------------------------------------------------- the full openpifpaf path


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need_openpifpaf()
    import torch

    from tiktok_dm.pose.openpifpaf_backend import write_untrained_checkpoint

    torch.manual_seed(0)
    return write_untrained_checkpoint(tmp_path_factory.mktemp("openpifpaf") / "untrained-shufflenetv2k16.pkl")


@pytest.fixture(scope="module")
def pifpaf(untrained_checkpoint: Path):
    with get_backend("openpifpaf", checkpoint=untrained_checkpoint, torch_threads=1) as backend:
        yield backend


def test_get_backend_loads_a_local_checkpoint_file(untrained_checkpoint: Path, pifpaf) -> None:
    assert pifpaf.name == "openpifpaf" and pifpaf.checkpoint_path == untrained_checkpoint
    # The torch.load override is scoped to loading: afterwards torch's safe default is back.
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ


def test_get_backend_reports_a_missing_or_broken_checkpoint(tmp_path: Path) -> None:
    _need_openpifpaf()
    with pytest.raises(CheckpointUnavailableError, match=r"not found.*--pose-checkpoint PATH"):
        get_backend("openpifpaf", checkpoint=tmp_path / "nope.pkl")
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointUnavailableError, match=r"could not load.*broken\.pkl"):
        get_backend("openpifpaf", checkpoint=broken)


def test_frames_go_through_the_predictor_into_coco17_arrays(pifpaf) -> None:
    rng = np.random.default_rng(0)
    frames = {
        "noise (a corrupted frame)": rng.integers(0, 256, (96, 128, 3), dtype=np.uint8),
        "black (nobody)": np.zeros((96, 128, 3), dtype=np.uint8),
        "odd size": rng.integers(0, 256, (75, 101, 3), dtype=np.uint8),
    }
    for label, frame in frames.items():
        people = pifpaf.detect(frame)
        assert people.dtype == np.float32 and people.ndim == 3 and people.shape[1:] == (17, 3), label
        confidence = people[..., 2]
        assert ((confidence >= 0) & (confidence <= 1)).all(), label
    with pytest.raises(ValueError, match="uint8"):
        pifpaf.detect(np.zeros((96, 128, 3), dtype=np.float32))


def test_annotations_from_the_predictor_come_back_in_frame_pixels(untrained_checkpoint: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The untrained network finds nobody, so the decoder is replaced by one returning a person at
    known places of the network's input (the frame halved by long_edge=64): what comes out of the
    Predictor (its inverse transform) and our conversion must be in pixels of the frame."""
    import openpifpaf

    with get_backend("openpifpaf", checkpoint=untrained_checkpoint, long_edge=64) as backend:
        predictor = backend._predictor
        cif = next(meta for meta in predictor.model_cpu.head_metas if meta.name == "cif")
        seen_sizes = []

        def one_person(model, image_batch, *, device=None, gt_anns_batch=None):
            seen_sizes.append(tuple(image_batch.shape[-2:]))
            person = openpifpaf.Annotation.from_cif_meta(cif)
            data = np.zeros((17, 3), dtype=np.float32)
            data[:, 0], data[:, 1], data[:, 2] = 10 + np.arange(17), 20.0, 0.9
            data[3] = 0.0  # not found
            person.set(data, fixed_score="")
            return [[person]]

        monkeypatch.setattr(predictor.processor, "batch", one_person)
        people = backend.detect(np.zeros((96, 128, 3), dtype=np.uint8))
    assert seen_sizes == [(49, 65)]  # 48 x 64, padded by openpifpaf to 16 k + 1 (at most 1 px each side)
    assert people.shape == (1, 17, 3) and people.dtype == np.float32
    found = np.delete(np.arange(17), 3)
    np.testing.assert_allclose(people[0, found, 0], 2 * (10 + found), atol=2.0)
    np.testing.assert_allclose(people[0, found, 1], 40.0, atol=2.0)
    np.testing.assert_allclose(people[0, found, 2], 0.9, rtol=1e-6)
    assert np.isnan(people[0, 3, :2]).all() and people[0, 3, 2] == 0.0


def test_estimate_video_with_openpifpaf_writes_a_pose_file(pifpaf, tmp_path: Path) -> None:
    import cv2

    from tiktok_dm.testing.dancer import render_dancer_frames

    video = tmp_path / "dancer.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (128, 96))
    for frame in render_dancer_frames(6, 10, 128, 96, 120, seed=0):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()

    sequence = estimate_video(video, pifpaf, max_fps=0)
    assert (sequence.num_frames, sequence.width, sequence.height, sequence.fps) == (6, 128, 96, 10.0)
    assert sequence.keypoints.shape == (6, sequence.num_persons, 17, 3)
    assert sequence.track_ids.shape == (6, sequence.num_persons)
    np.testing.assert_allclose(sequence.frame_times, np.arange(6) / 10)
    loaded = PoseSequence.load(sequence.save(tmp_path / "poses.npz"))
    np.testing.assert_array_equal(loaded.keypoints, sequence.keypoints)
