"""Loaders on fixtures in the official preprocessed layout, and on a tiktok-dm build's segments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from d2m_fixtures import synthetic_build
from d2m_train.data import D2MSegmentDataset, read_official_lists, segments_from_build

NAMES = ["000007_7_188_seg1", "000007_7_188_seg2"]


def _official_tiktok(root, names=NAMES, motion_shape=(60, 75)):
    lists = root / "dataset"
    lists.mkdir(parents=True, exist_ok=True)
    for folder in ("audio_s2", "motion_s2", "video_s2"):
        (lists / "tiktok" / folder).mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        sf.write(lists / "tiktok" / "audio_s2" / f"{name}.wav", 0.1 * np.sin(np.arange(46000) / (5 + index)), 22050)
        np.save(lists / "tiktok" / "motion_s2" / f"{name}.npy", np.ones(motion_shape, np.float64))
        np.save(lists / "tiktok" / "video_s2" / f"{name}.npy", np.zeros((1, 2048), np.float16))
    for modality, folder, ext in (("audio", "audio_s2", "wav"), ("motion", "motion_s2", "npy"), ("video", "video_s2", "npy")):
        (lists / f"tiktok_{modality}_train_segment.txt").write_text(
            "".join(f"./tiktok/{folder}/{name}.{ext}\n" for name in names))
    return lists


def test_official_layout_loads_with_the_official_preprocessing(tmp_path):
    lists = _official_tiktok(tmp_path)
    dataset = D2MSegmentDataset(read_official_lists(lists, "tiktok", "train"), train=False)
    item = dataset[1]
    assert item["name"] == NAMES[1]
    assert item["audio"].shape == (44100,) and abs(np.abs(item["audio"]).max() - 0.95) < 1e-4
    assert item["motion"].shape == (60, 75) and item["motion"].dtype == np.float32
    assert item["video"].shape == (1, 2048) and item["video"].dtype == np.float32
    train_item = D2MSegmentDataset(read_official_lists(lists, "tiktok", "train"), train=True, seed=1)[0]
    assert np.abs(train_item["audio"]).max() <= 0.95 + 1e-6


def test_missing_file_is_named(tmp_path):
    lists = _official_tiktok(tmp_path)
    (lists / "tiktok" / "motion_s2" / f"{NAMES[0]}.npy").unlink()
    with pytest.raises(FileNotFoundError, match=f"motion_s2/{NAMES[0]}.npy"):
        D2MSegmentDataset(read_official_lists(lists, "tiktok", "train"), train=True)


def test_wrong_motion_shape_is_named(tmp_path):
    lists = _official_tiktok(tmp_path, motion_shape=(60, 51))
    dataset = D2MSegmentDataset(read_official_lists(lists, "tiktok", "train"), train=False)
    with pytest.raises(ValueError, match=rf"{NAMES[0]}.npy: expected 4500 values to reshape to \(60, 75\)"):
        dataset[0]


def test_list_naming_a_file_that_does_not_exist(tmp_path):
    lists = _official_tiktok(tmp_path)
    with open(lists / "tiktok_audio_train_segment.txt", "a") as handle:
        handle.write("./tiktok/audio_s2/000099_1_999_seg1.wav\n")
    with pytest.raises(ValueError, match="the train lists differ in length"):
        read_official_lists(lists, "tiktok", "train")
    for modality, folder, ext in (("motion", "motion_s2", "npy"), ("video", "video_s2", "npy")):
        with open(lists / f"tiktok_{modality}_train_segment.txt", "a") as handle:
            handle.write(f"./tiktok/{folder}/000099_1_999_seg1.{ext}\n")
    with pytest.raises(FileNotFoundError, match="000099_1_999_seg1"):
        D2MSegmentDataset(read_official_lists(lists, "tiktok", "train"), train=True)


def test_build_segments_load_without_visual_features(tmp_path):
    build = tmp_path / "build"
    (build / "d2m" / "audio_s2").mkdir(parents=True)
    (build / "d2m" / "motion_s2").mkdir(parents=True)
    sf.write(build / "d2m" / "audio_s2" / "000000_0_0_seg1.wav", 0.2 * np.ones(44100), 22050)
    np.save(build / "d2m" / "motion_s2" / "000000_0_0_seg1.npy", np.zeros((60, 75), np.float32))
    pd.DataFrame([{"segment": "000000_0_0_seg1", "split": "train", "audio": "d2m/audio_s2/000000_0_0_seg1.wav",
                   "motion": "d2m/motion_s2/000000_0_0_seg1.npy"}]).to_csv(build / "segments.csv", index=False)
    spec = segments_from_build(build, "train")
    with pytest.raises(ValueError, match="no visual features"):
        D2MSegmentDataset(spec, train=False)
    item = D2MSegmentDataset(spec, train=False, use_visual=False)[0]
    assert set(item) == {"name", "audio", "motion"} and item["audio"].shape == (44100,)
    with pytest.raises(ValueError, match="no segment in split 'test'"):
        segments_from_build(build, "test")


def test_official_lists_in_shared_parse(shared_dir):
    spec = read_official_lists(shared_dir / "reference" / "d2m_official", "tiktok", "test", root="/nonexistent")
    assert len(spec.segments) == 307
    aist = read_official_lists(shared_dir / "reference" / "d2m_official", "aistplus", "train", root="/nonexistent")
    assert len(aist.segments) == 6632


def test_a_build_laid_out_for_the_release_reads_as_its_tiktok_dataset_reads_it(tmp_path, monkeypatch):
    """The released TiktokDataset's contract, replayed: run from the repository root, three lists in ./dataset,
    audio and video resolved against the list folder, motion as written (the working directory), motion reshaped
    to (60, 75), video (1, 2048), audio loaded at 22050 Hz. This package's reader reads the same export."""
    import librosa
    from click.testing import CliRunner

    from d2m_train.cli import cli

    build = synthetic_build(tmp_path / "build", frame_stats=True)
    root = tmp_path / "D2M-GAN"
    run = CliRunner().invoke(cli, ["export-official", "--data", str(build), "--out", str(root),
                                   "--features", str(build / "features")])
    assert run.exit_code == 0, run.output
    assert "train 4 segments, test 2 segments" in run.output and "not I3D" in run.output
    monkeypatch.chdir(root)
    for split, count in (("train", 4), ("test", 2)):
        lists = {m: Path(f"./dataset/tiktok_{m}_{split}_segment.txt") for m in ("audio", "video", "motion")}
        lines = {m: path.read_text().splitlines() for m, path in lists.items()}
        assert all(len(found) == count for found in lines.values())
        for audio_line, video_line, motion_line in zip(lines["audio"], lines["video"], lines["motion"]):
            assert audio_line.startswith("./tiktok/audio_s2/") and motion_line.startswith("./tiktok/motion_s2/")
            assert Path(audio_line).stem == Path(video_line).stem == Path(motion_line).stem
            audio, _ = librosa.load(lists["audio"].parent / audio_line, sr=22050)
            assert len(audio) == 44100
            assert np.load(lists["video"].parent / video_line).shape == (1, 2048)
            motion = np.reshape(np.load(motion_line), (60, 75))  # the release's own reshape
            assert np.array_equal(motion, np.load(build / "d2m" / "motion_s2" / f"{Path(motion_line).stem}.npy"))
        ours = read_official_lists(root / "dataset", "tiktok", split)
        assert [s.name for s in ours.segments] == [Path(line).stem for line in lines["audio"]]
        assert all(s.motion.is_file() and s.video.is_file() for s in ours.segments)
    note = (root / "dataset" / "tiktok" / "video_s2" / "VISUAL_FEATURES.txt").read_text()
    assert "not by the paper's Kinetics-pretrained I3D" in note


def test_the_official_export_checks_every_array_before_writing(tmp_path):
    from d2m_train.data.official_export import export_official

    build = synthetic_build(tmp_path / "build", frame_stats=True)
    name = "000000_1_1_seg2"
    np.save(build / "d2m" / "motion_s2" / f"{name}.npy", np.zeros((30, 75), np.float32))
    with pytest.raises(ValueError, match=f"{name}.npy: 2250 values"):
        export_official(build, tmp_path / "out", features_dir=build / "features")
    assert not (tmp_path / "out").exists()
    build = synthetic_build(tmp_path / "build2", frame_stats=True)
    (build / "features" / f"{name}.npy").unlink()
    with pytest.raises(FileNotFoundError, match=f"visual feature of segment {name}"):
        export_official(build, tmp_path / "out", features_dir=build / "features")
    assert not (tmp_path / "out").exists()
