"""AIST++ from its official annotation layout (motions/, keypoints2d/, splits/, ignore_list.txt, music wavs) into
D2M-GAN's 2-s segments. Fixtures are synthetic pkl files with the documented shapes, in that exact layout; the real
cross-modal lists are read from the shared reference folder."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from scipy.spatial.transform import Rotation

from d2m_train.cli import cli
from d2m_train.config import load_config
from d2m_train.data import D2MSegmentDataset, read_official_lists
from d2m_train.data.aistpp import (HELD_OUT_MUSICS, AISTLayoutError, load_keypoints2d, load_motion, parse_name,
                                   prepare_aistpp, read_splits)
from d2m_train.data.loading import genre_index
from d2m_train.evaluation import visual_source

TRAIN = {"gBR_sBM_cAll_d04_mBR1_ch01": 450, "gPO_sFM_cAll_d10_mPO2_ch05": 300}  # frames at 60 fps
TEST = {"gBR_sBM_cAll_d04_mBR0_ch02": 250}
IGNORED = "gPO_sFM_cAll_d10_mPO2_ch05"


def write_pickle(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pickle.dump(data, handle)


def aist_layout(root, train=TRAIN, test=TEST, poses_shape=None):
    """``root/annotations`` (motions, keypoints2d, splits, ignore_list.txt) and ``root/music`` (mXXn.wav)."""
    rng = np.random.default_rng(0)
    annotations, music = root / "annotations", root / "music"
    for name, frames in {**train, **test}.items():
        poses = rng.normal(0, 0.5, (frames, 72))
        write_pickle(annotations / "motions" / f"{name}.pkl", {
            "smpl_poses": poses.reshape(poses_shape or poses.shape), "smpl_trans": rng.normal(0, 50, (frames, 3)),
            "smpl_scaling": np.array([93.5]), "smpl_loss": 0.1})
        write_pickle(annotations / "keypoints2d" / f"{name}.pkl", {
            "keypoints2d": rng.random((9, frames, 17, 3)), "det_scores": np.ones((9, frames)),
            "timestamps": np.arange(frames) * 16.7})
        music_id = parse_name(name)["music"]
        music.mkdir(parents=True, exist_ok=True)
        if not (music / f"{music_id}.wav").exists():
            t = np.arange(22050 * 9) / 22050
            sf.write(music / f"{music_id}.wav", 0.4 * np.sin(2 * np.pi * (200 + 50 * len(music_id)) * t), 22050)
    (annotations / "splits").mkdir(parents=True, exist_ok=True)
    (annotations / "splits" / "crossmodal_train.txt").write_text("\n".join(train) + "\n")
    (annotations / "splits" / "crossmodal_test.txt").write_text("\n".join(test))
    (annotations / "ignore_list.txt").write_text(f"{IGNORED}\n\n")
    return annotations, music


def test_segments_in_the_official_layout(tmp_path):
    annotations, music = aist_layout(tmp_path)
    out = tmp_path / "aist"
    result = prepare_aistpp(annotations, music, out)
    assert result.segments == {"train": 3 + 2, "test": 2} and result.sequences == {"train": 2, "test": 1}
    assert result.ignored_kept == {"train": 1, "test": 0} and result.dropped == []
    assert (out / "aist_motion_train_segment.txt").read_text().splitlines() == [
        "./aistplus/motion_s2/train/gBR_sBM_c01_d04_mBR1_ch01_seg1.npy",
        "./aistplus/motion_s2/train/gBR_sBM_c01_d04_mBR1_ch01_seg2.npy",
        "./aistplus/motion_s2/train/gBR_sBM_c01_d04_mBR1_ch01_seg3.npy",
        "./aistplus/motion_s2/train/gPO_sFM_c01_d10_mPO2_ch05_seg1.npy",
        "./aistplus/motion_s2/train/gPO_sFM_c01_d10_mPO2_ch05_seg2.npy"]
    assert not (out / "aist_video_train_segment.txt").exists()  # visual none
    # Motion: frames 120(K-1)..120K of [trans / scaling | 24 rotation matrices].
    with (annotations / "motions" / "gBR_sBM_cAll_d04_mBR1_ch01.pkl").open("rb") as handle:
        raw = pickle.load(handle)
    seg2 = np.load(out / "aistplus" / "motion_s2" / "train" / "gBR_sBM_c01_d04_mBR1_ch01_seg2.npy")
    assert seg2.shape == (120, 219) and seg2.dtype == np.float32
    np.testing.assert_allclose(seg2[:, :3], raw["smpl_trans"][120:240] / 93.5, rtol=1e-5)
    np.testing.assert_allclose(seg2[5, 3:12].reshape(3, 3),
                               Rotation.from_rotvec(raw["smpl_poses"][125, :3]).as_matrix(), atol=1e-6)
    # Audio: the music at the same 2 s; keypoints: the c01 view.
    song, _ = sf.read(music / "mBR1.wav", dtype="float32")
    audio, rate = sf.read(out / "aistplus" / "audio_s2" / "train" / "gBR_sBM_c01_d04_mBR1_ch01_seg2.wav",
                          dtype="float32")
    assert rate == 22050 and len(audio) == 44100
    np.testing.assert_allclose(audio, song[44100:88200], atol=1e-4)
    keypoints = np.load(out / "aistplus" / "keypoints2d_s2" / "train" / "gBR_sBM_c01_d04_mBR1_ch01_seg2.npy")
    np.testing.assert_allclose(keypoints, pickle.loads(
        (annotations / "keypoints2d" / "gBR_sBM_cAll_d04_mBR1_ch01.pkl").read_bytes())["keypoints2d"][0, 120:240],
        rtol=1e-6)
    genres = np.load(out / "train_genre.npy")
    assert genres.shape == (5, 10) and genres.argmax(1).tolist() == [0, 0, 0, 1, 1]  # BR, PO
    # The training loader reads it as the official AIST++ layout.
    spec = read_official_lists(out, "aistplus", "test", root=out)
    assert [s.name for s in spec.segments] == ["gBR_sBM_c01_d04_mBR0_ch02_seg1", "gBR_sBM_c01_d04_mBR0_ch02_seg2"]
    assert all(s.video is None for s in spec.segments)
    item = D2MSegmentDataset(spec, train=False, use_visual=False)[1]
    assert item["motion"].shape == (120, 219) and item["audio"].shape == (44100,)
    assert genre_index(item["name"]) == 0
    with pytest.raises(ValueError, match="no visual features"):
        D2MSegmentDataset(spec, train=False)
    summary = json.loads((out / "aistplus_prepare.json").read_text())
    assert summary["segments"] == {"train": 5, "test": 2} and summary["visual"] == "none"


def test_drop_ignored_and_poses_as_24x3(tmp_path):
    annotations, music = aist_layout(tmp_path, poses_shape=(-1, 24, 3))
    result = prepare_aistpp(annotations, music, tmp_path / "aist", drop_ignored=True, keypoints2d=False)
    assert result.dropped == [IGNORED] and result.segments == {"train": 3, "test": 2}
    assert not (tmp_path / "aist" / "aistplus" / "keypoints2d_s2").exists()


def test_frame_stats_features_from_the_c01_videos(tmp_path):
    import cv2

    annotations, music = aist_layout(tmp_path, train={"gBR_sBM_cAll_d04_mBR1_ch01": 250})
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("gBR_sBM_c01_d04_mBR1_ch01", "gBR_sBM_c01_d04_mBR0_ch02"):
        writer = cv2.VideoWriter(str(videos / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 60, (32, 32))
        for frame in range(250):
            writer.write(np.full((32, 32, 3), (frame * 3) % 255, np.uint8))
        writer.release()
    out = tmp_path / "aist"
    with pytest.raises(ValueError, match="needs the AIST\\+\\+ videos folder"):
        prepare_aistpp(annotations, music, out, visual="frame_stats")
    prepare_aistpp(annotations, music, out, video_dir=videos, visual="frame_stats")
    spec = read_official_lists(out, "aistplus", "train", root=out)
    item = D2MSegmentDataset(spec, train=False)[0]
    assert item["video"].shape == (1, 2048) and item["video"][0, 1024:].max() > 0  # motion energy of the frames
    assert json.loads((out / "aistplus" / "video_s2" / "features.json").read_text())["extractor"] == "frame_stats_v1"
    # A run on these lists reports its visual input as frame_stats_v1, not as precomputed I3D arrays.
    cfg = load_config("d2m_train/configs/aist_high.yaml", [f"data.official_lists={out}", f"data.root={out}"])
    assert visual_source(cfg, None) == "frame_stats_v1"


def test_missing_file_is_named_with_its_list(tmp_path):
    annotations, music = aist_layout(tmp_path)
    (annotations / "motions" / "gBR_sBM_cAll_d04_mBR0_ch02.pkl").unlink()
    (music / "mPO2.wav").unlink()
    with pytest.raises(FileNotFoundError) as error:
        prepare_aistpp(annotations, music, tmp_path / "aist")
    message = str(error.value)
    assert "2 file(s) named by the AIST++ split lists do not exist" in message
    assert f"{annotations / 'motions' / 'gBR_sBM_cAll_d04_mBR0_ch02.pkl'} (sequence gBR_sBM_cAll_d04_mBR0_ch02 of " \
           f"{annotations / 'splits' / 'crossmodal_test.txt'})" in message
    assert f"{music / 'mPO2.wav'}" in message
    assert not (tmp_path / "aist").exists()  # nothing written


def test_split_list_naming_an_unknown_sequence(tmp_path):
    annotations, music = aist_layout(tmp_path)
    with (annotations / "splits" / "crossmodal_train.txt").open("a") as handle:
        handle.write("gJB_sFM_cAll_d09_mJB1_ch10\n")
    with pytest.raises(FileNotFoundError, match=r"motions/gJB_sFM_cAll_d09_mJB1_ch10\.pkl \(sequence "
                                                r"gJB_sFM_cAll_d09_mJB1_ch10 of .*crossmodal_train\.txt\)"):
        prepare_aistpp(annotations, music, tmp_path / "aist")
    (annotations / "splits" / "crossmodal_train.txt").write_text("gBR_sBM_cAll_d04_mBR1_ch01\nnot_a_sequence\n")
    with pytest.raises(ValueError, match=r"crossmodal_train\.txt, line 2: 'not_a_sequence' is not an AIST\+\+"):
        prepare_aistpp(annotations, music, tmp_path / "aist")
    (annotations / "splits" / "crossmodal_train.txt").write_text("gBR_sBM_cAll_d04_mBR0_ch01\n")
    with pytest.raises(ValueError, match=r"uses test/val music \['mBR0'\]: the cross-modal split is music-disjoint"):
        prepare_aistpp(annotations, music, tmp_path / "aist")
    (annotations / "splits" / "crossmodal_test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"split list .*crossmodal_test\.txt does not exist"):
        prepare_aistpp(annotations, music, tmp_path / "aist")


def test_wrong_array_shapes_are_named(tmp_path):
    path = tmp_path / "motions" / "gBR_sBM_cAll_d04_mBR1_ch01.pkl"
    write_pickle(path, {"smpl_poses": np.zeros((10, 72)), "smpl_trans": np.zeros((10, 2)), "smpl_scaling": [1.0]})
    with pytest.raises(AISTLayoutError, match=rf"{path}: smpl_trans must be \(10, 3\) like smpl_poses, got \(10, 2\)"):
        load_motion(path)
    write_pickle(path, {"smpl_poses": np.zeros((10, 69)), "smpl_trans": np.zeros((10, 3)), "smpl_scaling": [1.0]})
    with pytest.raises(AISTLayoutError, match=r"smpl_poses must be \(N, 72\) or \(N, 24, 3\), got \(10, 69\)"):
        load_motion(path)
    write_pickle(path, {"smpl_poses": np.zeros((10, 72)), "smpl_trans": np.zeros((10, 3))})
    with pytest.raises(AISTLayoutError, match=r"no 'smpl_scaling'"):
        load_motion(path)
    path.write_bytes(b"not a pickle")
    with pytest.raises(AISTLayoutError, match=rf"{path}: not a readable pickle"):
        load_motion(path)
    keypoints = tmp_path / "keypoints2d" / "k.pkl"
    write_pickle(keypoints, {"keypoints2d": np.zeros((8, 10, 17, 3))})
    with pytest.raises(AISTLayoutError, match=r"keypoints2d must be \(9, N, 17, 3\), got \(8, 10, 17, 3\)"):
        load_keypoints2d(keypoints)
    write_pickle(keypoints, {"keypoints2d": np.zeros((9, 12, 17, 3))})
    with pytest.raises(AISTLayoutError, match="keypoints2d has 12 frames, the motion has 10"):
        load_keypoints2d(keypoints, frames=10)


def test_wrong_shape_inside_the_layout_stops_the_preparation(tmp_path):
    annotations, music = aist_layout(tmp_path)
    write_pickle(annotations / "keypoints2d" / "gBR_sBM_cAll_d04_mBR0_ch02.pkl",
                 {"keypoints2d": np.zeros((9, 250, 25, 3))})
    with pytest.raises(AISTLayoutError, match=r"gBR_sBM_cAll_d04_mBR0_ch02\.pkl: keypoints2d must be"):
        prepare_aistpp(annotations, music, tmp_path / "aist")
    result = CliRunner().invoke(cli, ["prepare-aistpp", "--annotations", str(annotations), "--music", str(music),
                                      "--out", str(tmp_path / "aist2")])
    assert result.exit_code == 2 and "keypoints2d must be (9, N, 17, 3), got (9, 250, 25, 3)" in result.output
    ok = CliRunner().invoke(cli, ["prepare-aistpp", "--annotations", str(annotations), "--music", str(music),
                                  "--no-keypoints2d", "--out", str(tmp_path / "aist3")])
    assert ok.exit_code == 0, ok.output
    assert "train: 2 sequences, 5 segments (1 from the ignore list)" in ok.output
    assert "test: 1 sequences, 2 segments" in ok.output


def test_the_real_crossmodal_lists(shared_dir):
    """The public cross-modal split: 980 train / 20 test, music-disjoint; 28 of the 45 ignored are in train
    (D2M-GAN trains on them); test = basic dances of the 10 held-out musics, choreography ch02."""
    splits = read_splits(shared_dir / "reference" / "aistpp_splits")
    assert (len(splits.train), len(splits.test), len(splits.val), len(splits.ignored)) == (980, 20, 0, 45)
    assert len(splits.ignored & set(splits.train)) == 28 and not splits.ignored & set(splits.test)
    test = [parse_name(n) for n in splits.test]
    assert all(p["situation"] == "BM" and p["choreo"] == "02" and p["music"] in HELD_OUT_MUSICS for p in test)
    assert {p["music"] for p in test} == HELD_OUT_MUSICS
    train = [parse_name(n) for n in splits.train]
    assert sum(p["situation"] == "BM" for p in train) == 800 and len({p["music"] for p in train}) == 50
    assert not {p["music"] for p in train} & HELD_OUT_MUSICS


def test_real_lists_against_an_empty_annotation_folder(shared_dir, tmp_path):
    (tmp_path / "annotations" / "motions").mkdir(parents=True)
    (tmp_path / "music").mkdir()
    with pytest.raises(FileNotFoundError, match=r"file\(s\) named by the AIST\+\+ split lists do not exist: .*"
                                                r"motions/gWA_sFM_cAll_d25_mWA4_ch05\.pkl"):
        prepare_aistpp(tmp_path / "annotations", tmp_path / "music", tmp_path / "out",
                       split_dir=shared_dir / "reference" / "aistpp_splits")
