"""Official D2M-GAN lists: segment names, list parsing, and the committed split files."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from tiktok_dm.dataset.official import (
    camera_agnostic_sequence_name,
    convert_official_lists,
    read_aist_segment_list,
    read_sequence_list,
    read_tiktok_segment_list,
    tiktok_clips_from_segments,
)
from tiktok_dm.dataset.split import read_split_file
from tiktok_dm.model.names import SegmentName, format_segment_name, parse_segment_name

REPO = Path(__file__).resolve().parents[1]
SPLITS = REPO / "splits"
TIKTOK_OFFICIAL = SPLITS / "tiktok_official"
AIST_CROSSMODAL = SPLITS / "aistpp_crossmodal"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


# --- segment names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, stem",
    [
        ((7, 7, 188, 3), "000007_7_188_seg3"),
        ((0, 0, 0, 1), "000000_0_0_seg1"),
        ((14, 85, 444, 14), "000014_85_444_seg14"),
        ((999_999, 1234, 56789, 100), "999999_1234_56789_seg100"),
    ],
)
def test_format_and_parse_round_trip(fields: tuple[int, int, int, int], stem: str) -> None:
    assert format_segment_name(*fields) == stem
    parsed = parse_segment_name(stem)
    assert parsed == SegmentName(*fields)
    assert parsed.stem == stem


@pytest.mark.parametrize(
    "stem",
    [
        "00007_7_188_seg3",  # five-digit compilation
        "000007_7_188_seg",  # no segment index
        "000007_7_188",
        "000007_x_188_seg3",
        "000007_7_188_seg3.wav",  # a file name, not a stem
        "000007_07_188_seg3",  # leading zero: not what format_segment_name writes
        "000007_7_188_seg03",
    ],
)
def test_parse_rejects_malformed_or_non_canonical_names(stem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(stem))):
        parse_segment_name(stem)


@pytest.mark.parametrize(
    "fields",
    [(-1, 0, 0, 1), (1_000_000, 0, 0, 1), (0, -1, 0, 1), (0, 0, -1, 1), (0, 0, 0, 0), (0, 0, 0, 1.0), (True, 0, 0, 1)],
)
def test_format_rejects_bad_fields(fields: tuple) -> None:
    with pytest.raises(ValueError):
        format_segment_name(*fields)


# --- TikTok lists --------------------------------------------------------------------------


def test_read_tiktok_segment_list_parses_fields_and_skips_blank_lines(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "list.txt",
        ["./tiktok/audio_s2/000007_7_188_seg3.wav", "", "./tiktok/audio_s2/000007_7_188_seg1.wav  "],
    )
    segments = read_tiktok_segment_list(path)
    assert list(segments.columns) == ["segment", "compilation", "music", "clip", "k"]
    assert segments.to_dict("records") == [
        {"segment": "000007_7_188_seg3", "compilation": 7, "music": 7, "clip": 188, "k": 3},
        {"segment": "000007_7_188_seg1", "compilation": 7, "music": 7, "clip": 188, "k": 1},
    ]


@pytest.mark.parametrize(
    "bad_line",
    [
        "./tiktok/audio_s2/000007_7_188.wav",  # bad stem
        "./tiktok/audio_s2/000007_7_188_seg03.wav",  # non-canonical stem
        "./tiktok/audio_s2/000007_7_188_seg3.npy",  # audio must be wav
        "./tiktok/pose_s2/000007_7_188_seg3.npy",  # unknown modality
        "tiktok/audio_s2/000007_7_188_seg3.wav",  # not relative to ./
    ],
)
def test_read_tiktok_segment_list_names_file_and_line_of_a_bad_line(tmp_path: Path, bad_line: str) -> None:
    path = write_lines(
        tmp_path / "list.txt",
        ["./tiktok/audio_s2/000000_0_0_seg1.wav", "./tiktok/audio_s2/000000_0_0_seg2.wav", bad_line],
    )
    with pytest.raises(ValueError, match=re.escape(f"{path}:3:")):
        read_tiktok_segment_list(path)


def test_read_tiktok_segment_list_rejects_a_repeated_segment(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "list.txt",
        [
            "./tiktok/motion_s2/000000_0_0_seg1.npy",
            "./tiktok/motion_s2/000000_0_1_seg1.npy",
            "./tiktok/motion_s2/000000_0_0_seg1.npy",
        ],
    )
    with pytest.raises(ValueError, match=r"list\.txt:3: segment 000000_0_0_seg1 already listed on line 1"):
        read_tiktok_segment_list(path)


def test_tiktok_clips_from_segments_gives_one_row_per_clip(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "list.txt",
        [
            "./tiktok/video_s2/000009_20_250_seg2.npy",
            "./tiktok/video_s2/000007_7_12_seg1.npy",
            "./tiktok/video_s2/000009_20_250_seg1.npy",
            "./tiktok/video_s2/000009_20_250_seg3.npy",
        ],
    )
    clips = tiktok_clips_from_segments(read_tiktok_segment_list(path))
    assert clips.to_dict("records") == [
        {"clip_id": "12", "compilation_id": "000007", "song_id": "7", "num_segments": 1},
        {"clip_id": "250", "compilation_id": "000009", "song_id": "20", "num_segments": 3},
    ]


def test_tiktok_clips_from_segments_rejects_a_clip_with_two_songs() -> None:
    segments = pd.DataFrame(
        {"compilation": [7, 7], "music": [7, 8], "clip": [188, 188], "k": [1, 2]},
    )
    with pytest.raises(ValueError, match=r"\[188\]"):
        tiktok_clips_from_segments(segments)


# --- AIST++ lists --------------------------------------------------------------------------


def test_read_aist_segment_list_parses_sequence_k_and_split(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "aist.txt",
        [
            "./aistplus/audio_s2/train/gLO_sBM_c01_d14_mLO5_ch04_seg1.wav",
            "./aistplus/motion_s2/test/gPO_sBM_c01_d11_mPO1_ch02_seg12.npy",
        ],
    )
    assert read_aist_segment_list(path).to_dict("records") == [
        {
            "segment": "gLO_sBM_c01_d14_mLO5_ch04_seg1",
            "sequence": "gLO_sBM_c01_d14_mLO5_ch04",
            "k": 1,
            "split": "train",
        },
        {
            "segment": "gPO_sBM_c01_d11_mPO1_ch02_seg12",
            "sequence": "gPO_sBM_c01_d11_mPO1_ch02",
            "k": 12,
            "split": "test",
        },
    ]


@pytest.mark.parametrize(
    "bad_line",
    [
        "./aistplus/audio_s2/val/gLO_sBM_c01_d14_mLO5_ch04_seg1.wav",  # no val folder
        "./aistplus/audio_s2/train/gLO_sBM_c01_d14_mLO5_ch04_seg0.wav",  # K is 1-based
        "./aistplus/audio_s2/train/gLO_sBM_c01_d14_mLO5_ch04.wav",
    ],
)
def test_read_aist_segment_list_names_file_and_line_of_a_bad_line(tmp_path: Path, bad_line: str) -> None:
    path = write_lines(
        tmp_path / "aist.txt", ["./aistplus/audio_s2/train/gLO_sBM_c01_d14_mLO5_ch04_seg1.wav", bad_line]
    )
    with pytest.raises(ValueError, match=re.escape(f"{path}:2:")):
        read_aist_segment_list(path)


def test_read_sequence_list_normalises_names(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "seqs.txt",
        ["  gB_sFM_cAll_d05_mBR5_ch14.json", "", "gA_sBM_cAll_d01_mBR0_ch01.pkl", "gB_sFM_cAll_d05_mBR5_ch14"],
    )
    assert read_sequence_list(path) == ["gA_sBM_cAll_d01_mBR0_ch01", "gB_sFM_cAll_d05_mBR5_ch14"]


def test_camera_agnostic_sequence_name() -> None:
    assert camera_agnostic_sequence_name("gPO_sBM_c01_d11_mPO1_ch02") == "gPO_sBM_cAll_d11_mPO1_ch02"
    assert camera_agnostic_sequence_name("gPO_sBM_cAll_d11_mPO1_ch02") == "gPO_sBM_cAll_d11_mPO1_ch02"
    with pytest.raises(ValueError, match="camera"):
        camera_agnostic_sequence_name("gPO_sBM_d11_mPO1_ch02")


# --- conversion on a small synthetic release (no shared folder needed) ---------------------


def make_reference_dir(root: Path) -> Path:
    d2m = root / "d2m_official"
    for modality, ext in (("audio", "wav"), ("video", "npy"), ("motion", "npy")):
        write_lines(
            d2m / f"tiktok_{modality}_train_segment.txt",
            [f"./tiktok/{modality}_s2/000000_0_{clip}_seg{k}.{ext}" for clip in (0, 1) for k in (1, 2)],
        )
        write_lines(d2m / f"tiktok_{modality}_test_segment.txt", [f"./tiktok/{modality}_s2/000001_5_2_seg1.{ext}"])
    aist = root / "aistpp_splits"
    write_lines(aist / "crossmodal_train.txt", ["gB_sFM_cAll_d02_mBR1_ch02", "gA_sFM_cAll_d01_mBR1_ch01"])
    write_lines(aist / "crossmodal_test.txt", ["gA_sBM_cAll_d01_mBR0_ch02"])
    write_lines(aist / "ignore_list.txt", ["gB_sFM_cAll_d02_mBR1_ch02.json", ""])
    return root


def test_convert_official_lists_writes_split_files_and_readmes(tmp_path: Path) -> None:
    summary = convert_official_lists(make_reference_dir(tmp_path / "reference"), tmp_path / "splits")
    assert summary.tiktok_clips == {"train": 2, "test": 1}
    assert summary.tiktok_songs == {"train": 1, "test": 1}
    assert summary.tiktok_segments == {"train": 4, "test": 1}
    assert summary.aist_sequences == {"train": 2, "test": 1, "ignore_list": 1}
    out = tmp_path / "splits"
    assert (out / "tiktok_official" / "train.csv").read_text() == (
        "clip_id,compilation_id,song_id,num_segments\n0,000000,0,2\n1,000000,0,2\n"
    )
    assert (
        out / "tiktok_official" / "test.csv"
    ).read_text() == "clip_id,compilation_id,song_id,num_segments\n2,000001,5,1\n"
    assert (
        out / "aistpp_crossmodal" / "train.txt"
    ).read_text() == "gA_sFM_cAll_d01_mBR1_ch01\ngB_sFM_cAll_d02_mBR1_ch02\n"
    assert (out / "aistpp_crossmodal" / "ignore_list.txt").read_text() == "gB_sFM_cAll_d02_mBR1_ch02\n"
    for folder in ("tiktok_official", "aistpp_crossmodal"):
        readme = (out / folder / "README.md").read_text()
        assert "python -m tiktok_dm.dataset.official ../shared/reference splits" in readme


def test_convert_official_lists_rejects_a_song_in_both_tiktok_splits(tmp_path: Path) -> None:
    reference = make_reference_dir(tmp_path / "reference")
    for modality, ext in (("audio", "wav"), ("video", "npy"), ("motion", "npy")):
        write_lines(
            reference / "d2m_official" / f"tiktok_{modality}_test_segment.txt",
            [f"./tiktok/{modality}_s2/000001_0_2_seg1.{ext}"],
        )
    with pytest.raises(ValueError, match="song '0' is in both splits"):
        convert_official_lists(reference, tmp_path / "splits")


def test_convert_official_lists_rejects_parallel_lists_that_differ(tmp_path: Path) -> None:
    reference = make_reference_dir(tmp_path / "reference")
    write_lines(
        reference / "d2m_official" / "tiktok_motion_test_segment.txt", ["./tiktok/motion_s2/000001_5_2_seg2.npy"]
    )
    with pytest.raises(ValueError, match="tiktok_motion_test_segment.txt does not list the same segments"):
        convert_official_lists(reference, tmp_path / "splits")


# --- the committed files -------------------------------------------------------------------


def test_committed_tiktok_split_has_the_paper_counts() -> None:
    train, test = (read_split_file(TIKTOK_OFFICIAL / f"{split}.csv") for split in ("train", "test"))
    assert (len(train), len(test)) == (392, 53)
    assert (train["song_id"].nunique(), test["song_id"].nunique()) == (43, 43)
    assert not set(train["song_id"]) & set(test["song_id"])
    clip_ids = sorted(int(clip_id) for clip_id in pd.concat([train["clip_id"], test["clip_id"]]))
    assert clip_ids == list(range(445))
    assert sorted(test["compilation_id"].unique()) == ["000007", "000009", "000010", "000011"]
    assert (train["num_segments"].astype(int).sum(), test["num_segments"].astype(int).sum()) == (2384, 307)


def test_committed_aist_split_has_the_crossmodal_counts_and_is_music_disjoint() -> None:
    lists = {
        name: (AIST_CROSSMODAL / f"{name}.txt").read_text().splitlines() for name in ("train", "test", "ignore_list")
    }
    assert {name: len(names) for name, names in lists.items()} == {"train": 980, "test": 20, "ignore_list": 45}
    assert all(names == sorted(set(names)) for names in lists.values())

    def music_of(sequence: str) -> str:
        return sequence.split("_")[4]

    assert not {music_of(s) for s in lists["train"]} & {music_of(s) for s in lists["test"]}


@pytest.mark.needs_shared
def test_committed_split_files_equal_a_fresh_conversion(shared_dir: Path, tmp_path: Path) -> None:
    summary = convert_official_lists(shared_dir / "reference", tmp_path)
    assert summary.tiktok_clips == {"train": 392, "test": 53}
    assert summary.tiktok_songs == {"train": 43, "test": 43}
    assert summary.aist_sequences == {"train": 980, "test": 20, "ignore_list": 45}
    fresh = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file())
    committed = sorted(
        path.relative_to(SPLITS)
        for folder in ("tiktok_official", "aistpp_crossmodal")
        for path in (SPLITS / folder).rglob("*")
        if path.is_file()
    )
    assert fresh == committed
    stale = [str(path) for path in fresh if (tmp_path / path).read_bytes() != (SPLITS / path).read_bytes()]
    assert not stale, f"committed files differ from a fresh conversion (rerun the converter): {stale}"


@pytest.mark.needs_shared
def test_d2m_aist_lists_cover_exactly_the_crossmodal_split(shared_dir: Path) -> None:
    for split in ("train", "test"):
        segments = read_aist_segment_list(shared_dir / "reference" / "d2m_official" / f"aist_audio_{split}_segment.txt")
        assert set(segments["split"]) == {split}
        sequences = {camera_agnostic_sequence_name(sequence) for sequence in segments["sequence"]}
        assert sequences == set((AIST_CROSSMODAL / f"{split}.txt").read_text().splitlines())
