"""Song-disjoint train/test split and its validation."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tiktok_dm.dataset.split import (
    LeakingAssignment,
    assign_splits,
    read_split_file,
    song_assignment_from_split_dir,
    song_groups,
    validate_splits,
    write_split_files,
)

TIKTOK_OFFICIAL = Path(__file__).resolve().parents[1] / "splits" / "tiktok_official"
OFFICIAL_TEST_FRACTION = 53 / 445


def official_clips() -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """All 445 committed official clips (union of both files) and the official clip ids per split."""
    frames = {split: read_split_file(TIKTOK_OFFICIAL / f"{split}.csv") for split in ("train", "test")}
    clip_ids = {split: set(frame["clip_id"]) for split, frame in frames.items()}
    return pd.concat(frames.values(), ignore_index=True), clip_ids


def synthetic_clips(n_clips: int = 445, n_songs: int = 86, seed: int = 7) -> pd.DataFrame:
    """A clip table shaped like TikTok's: every song has >= 1 clip, a few songs have many."""
    rng = np.random.default_rng(seed)
    clips_per_song = 1 + rng.multinomial(n_clips - n_songs, rng.dirichlet(np.full(n_songs, 0.5)))
    song_of_clip = np.repeat(np.arange(n_songs), clips_per_song)
    return pd.DataFrame(
        {
            "clip_id": [str(clip) for clip in range(n_clips)],
            "song_id": [str(song) for song in song_of_clip],
            "compilation_id": [f"{clip // 30:06d}" for clip in range(n_clips)],
        }
    )


def clips_in(assigned: pd.DataFrame, split: str) -> set[str]:
    return set(assigned.loc[assigned["split"] == split, "clip_id"])


def songs_in(assigned: pd.DataFrame, split: str) -> set[str]:
    return set(assigned.loc[assigned["split"] == split, "song_id"])


# --- (a) the official split -----------------------------------------------------------------


def test_song_assignment_reproduces_the_official_split_exactly() -> None:
    clips, official = official_clips()
    assert len(clips) == 445
    assignment = song_assignment_from_split_dir(TIKTOK_OFFICIAL)
    assert len(assignment) == 86
    # test_fraction / seed are unused with an assignment; odd values prove it.
    assigned = assign_splits(clips, test_fraction=0.5, seed=123, song_assignment=assignment)
    assert clips_in(assigned, "train") == official["train"]
    assert clips_in(assigned, "test") == official["test"]
    assert (assigned["split"] != "").all()


def test_rewriting_the_official_split_gives_the_committed_files(tmp_path: Path) -> None:
    clips, _ = official_clips()
    assigned = assign_splits(
        clips, OFFICIAL_TEST_FRACTION, 0, song_assignment=song_assignment_from_split_dir(TIKTOK_OFFICIAL)
    )
    written = write_split_files(assigned, tmp_path)
    for split, path in written.items():
        assert path.read_bytes() == (TIKTOK_OFFICIAL / f"{split}.csv").read_bytes()


def test_random_split_of_the_official_clips_is_song_disjoint_and_near_53() -> None:
    clips, _ = official_clips()
    assigned = assign_splits(clips, OFFICIAL_TEST_FRACTION, seed=0)
    assert not songs_in(assigned, "train") & songs_in(assigned, "test")
    assert abs(len(clips_in(assigned, "test")) - 53) <= 2


# --- (c) random split ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 42])
def test_random_split_is_song_disjoint_and_close_to_the_target_fraction(seed: int) -> None:
    clips = synthetic_clips()
    assigned = assign_splits(clips, OFFICIAL_TEST_FRACTION, seed)
    assert set(assigned["split"]) == {"train", "test"}
    assert not songs_in(assigned, "train") & songs_in(assigned, "test")
    assert abs(len(clips_in(assigned, "test")) - 53) <= 2
    validate_splits(assigned)


def test_random_split_is_deterministic_for_a_seed_whatever_the_row_order() -> None:
    clips = synthetic_clips()
    first = assign_splits(clips, 0.2, seed=5)
    again = assign_splits(clips, 0.2, seed=5)
    reordered = assign_splits(clips.sample(frac=1.0, random_state=1), 0.2, seed=5)
    assert clips_in(first, "test") == clips_in(again, "test") == clips_in(reordered, "test")


def test_random_split_differs_for_another_seed() -> None:
    clips = synthetic_clips()
    assert clips_in(assign_splits(clips, 0.2, seed=5), "test") != clips_in(assign_splits(clips, 0.2, seed=6), "test")


def test_random_split_keeps_input_rows_and_columns() -> None:
    clips = synthetic_clips()
    assigned = assign_splits(clips, 0.2, seed=0)
    assert list(assigned.columns) == [*clips.columns, "split"]
    pd.testing.assert_frame_equal(assigned.drop(columns="split"), clips)
    assert "split" not in clips.columns  # the input is not modified


@pytest.mark.parametrize("test_fraction", [0.01, 0.99])
def test_each_split_gets_a_song_when_the_fraction_rounds_to_nothing_or_everything(test_fraction: float) -> None:
    clips = pd.DataFrame({"clip_id": ["0", "1", "2", "3"], "song_id": ["a", "a", "a", "b"]})
    assigned = assign_splits(clips, test_fraction, seed=0)
    assert len(songs_in(assigned, "train")) == 1 and len(songs_in(assigned, "test")) == 1


@pytest.mark.parametrize("test_fraction, expected", [(0.0, "train"), (1.0, "test")])
def test_fraction_zero_or_one_puts_everything_in_one_split(test_fraction: float, expected: str) -> None:
    assigned = assign_splits(synthetic_clips(), test_fraction, seed=0)
    assert set(assigned["split"]) == {expected}


@pytest.mark.parametrize("test_fraction", [-0.1, 1.5])
def test_a_fraction_outside_zero_one_is_rejected(test_fraction: float) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        assign_splits(synthetic_clips(), test_fraction, seed=0)


def test_missing_columns_are_rejected() -> None:
    with pytest.raises(ValueError, match="song_id"):
        assign_splits(pd.DataFrame({"clip_id": ["1"]}), 0.1, seed=0)


# --- song assignment -----------------------------------------------------------------------


def test_songs_missing_from_the_assignment_are_all_listed() -> None:
    clips = pd.DataFrame({"clip_id": ["0", "1", "2", "3"], "song_id": ["1", "2", "3", "10"]})
    with pytest.raises(ValueError, match=r"not in the song assignment: \['3', '10'\]"):
        assign_splits(clips, 0.1, 0, song_assignment={"1": "train", "2": "test"})


def test_songs_missing_from_the_assignment_can_be_sent_to_train() -> None:
    clips = pd.DataFrame({"clip_id": ["0", "1", "2"], "song_id": ["1", "2", "3"]})
    assigned = assign_splits(clips, 0.1, 0, song_assignment={"1": "train", "2": "test"}, unknown_songs="train")
    assert assigned["split"].tolist() == ["train", "test", "train"]


def test_an_assignment_with_a_bad_split_value_is_rejected() -> None:
    clips = pd.DataFrame({"clip_id": ["0"], "song_id": ["1"]})
    with pytest.raises(ValueError, match="val"):
        assign_splits(clips, 0.1, 0, song_assignment={"1": "val"})


def test_int_and_float_song_ids_match_a_text_assignment() -> None:
    clips = pd.DataFrame({"clip_id": [0, 1, 2], "song_id": [7.0, np.nan, 8.0]})
    assigned = assign_splits(clips, 0.1, 0, song_assignment={"7": "test", "8": "train"})
    assert assigned["split"].tolist() == ["test", "", "train"]


def test_split_dir_with_a_song_in_both_files_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("clip_id,song_id\n0,1\n1,2\n")
    (tmp_path / "test.csv").write_text("clip_id,song_id\n2,2\n3,3\n")
    with pytest.raises(ValueError, match=r"\['2'\] appear in both"):
        song_assignment_from_split_dir(tmp_path)


def test_split_dir_with_an_empty_song_id_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("clip_id,song_id\n0,1\n1,\n")
    (tmp_path / "test.csv").write_text("clip_id,song_id\n2,2\n")
    with pytest.raises(ValueError, match=r"train\.csv:3: empty song_id"):
        song_assignment_from_split_dir(tmp_path)


def test_split_dir_without_files_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train.csv"):
        song_assignment_from_split_dir(tmp_path)


# --- (f) songless clips --------------------------------------------------------------------


def test_songless_clips_are_skipped_not_assigned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clips = pd.DataFrame(
        {"clip_id": ["0", "1", "2", "3", "4", "5"], "song_id": ["a", None, "b", "", "  ", float("nan")]}
    )
    with caplog.at_level(logging.WARNING, logger="tiktok_dm.dataset.split"):
        assigned = assign_splits(clips, 0.5, seed=0)
    assert assigned.loc[assigned["song_id"].isin(["a", "b"]), "split"].isin(["train", "test"]).all()
    assert assigned.set_index("clip_id").loc[["1", "3", "4", "5"], "split"].tolist() == ["", "", "", ""]
    assert "4 clip(s) without a song id" in caplog.text
    written = write_split_files(assigned, tmp_path)
    written_ids = set().union(*(set(read_split_file(path)["clip_id"]) for path in written.values()))
    assert written_ids == {"0", "2"}


# --- writing -------------------------------------------------------------------------------


def test_write_split_files_orders_columns_and_sorts_clips_numerically(tmp_path: Path) -> None:
    assigned = pd.DataFrame(
        {
            "notes": ["x", "y", "z"],
            "num_segments": [3, 4, 5],
            "song_id": ["1", "1", "2"],
            "clip_id": ["10", "9", "2"],
            "split": ["train", "train", "test"],
        }
    )
    written = write_split_files(assigned, tmp_path)
    assert written["train"].read_text() == "clip_id,song_id,num_segments,notes\n9,1,4,y\n10,1,3,x\n"
    assert written["test"].read_text() == "clip_id,song_id,num_segments,notes\n2,2,5,z\n"


def test_write_split_files_refuses_a_leaking_split(tmp_path: Path) -> None:
    assigned = pd.DataFrame({"clip_id": ["0", "1"], "song_id": ["1", "1"], "split": ["train", "test"]})
    with pytest.raises(ValueError, match="song '1' is in both splits"):
        write_split_files(assigned, tmp_path)
    assert not list(tmp_path.iterdir())


def test_write_split_files_refuses_unknown_split_values(tmp_path: Path) -> None:
    assigned = pd.DataFrame({"clip_id": ["0"], "song_id": ["1"], "split": ["val"]})
    with pytest.raises(ValueError, match="val"):
        write_split_files(assigned, tmp_path)


# --- (d) validate_splits -------------------------------------------------------------------


def test_validate_splits_lists_every_song_in_both_splits_with_its_clips() -> None:
    assigned = pd.DataFrame(
        {
            "clip_id": ["0", "1", "2", "3", "4", "5"],
            "song_id": ["7", "7", "8", "8", "9", "9"],
            "split": ["train", "test", "test", "train", "train", "train"],
        }
    )
    with pytest.raises(ValueError) as error:
        validate_splits(assigned)
    message = str(error.value)
    assert "song '7' is in both splits: train clips ['0'], test clips ['1']" in message
    assert "song '8' is in both splits: train clips ['3'], test clips ['2']" in message
    assert "'9'" not in message


def test_validate_splits_catches_a_repeated_clip_id() -> None:
    assigned = pd.DataFrame({"clip_id": ["0", "0", "1"], "song_id": ["7", "7", ""], "split": ["train", "train", ""]})
    with pytest.raises(ValueError, match="clip id '0' appears 2 times"):
        validate_splits(assigned)


def test_validate_splits_accepts_a_clean_split_with_skipped_clips() -> None:
    assigned = pd.DataFrame({"clip_id": ["0", "1", "2"], "song_id": ["7", "8", ""], "split": ["train", "test", ""]})
    validate_splits(assigned)


def test_validate_splits_needs_its_columns() -> None:
    with pytest.raises(ValueError, match="split"):
        validate_splits(pd.DataFrame({"clip_id": ["0"], "song_id": ["7"]}))


def test_links_between_songs_keep_them_on_one_side():
    """Clips that share content but carry different song ids (a clip cut across two videos) join their songs."""
    clips = synthetic_clips(n_clips=200, n_songs=40, seed=3)
    plain = assign_splits(clips, 0.3, seed=1)
    assert list(assign_splits(clips, 0.3, seed=1, links=[]).split) == list(plain.split)
    first_of = clips.groupby("song_id")["clip_id"].first()
    train_song = plain.loc[plain["split"] == "train", "song_id"].iloc[0]
    test_song = plain.loc[plain["split"] == "test", "song_id"].iloc[0]
    links = [(first_of[train_song], first_of[test_song])]
    linked = assign_splits(clips, 0.3, seed=1, links=links)
    together = linked[linked["song_id"].isin([train_song, test_song])]
    assert together["split"].nunique() == 1
    assert set(linked["split"]) == {"train", "test"}
    # Links inside one song, or with clips the table lacks, change nothing.
    same_song = clips[clips["song_id"] == train_song]["clip_id"].tolist()[:2]
    assert list(assign_splits(clips, 0.3, seed=1, links=[tuple(same_song), ("x", "y")]).split) == list(plain.split)


def test_song_groups_are_named_by_their_smallest_song_and_follow_links_transitively():
    song_of = {"a": "10", "b": "2", "c": "x", "d": "7", "e": ""}
    groups = song_groups(song_of, [("a", "b"), ("b", "c"), ("e", "d")])
    assert groups == {"10": "2", "2": "2", "x": "2", "7": "7"}


def test_a_fixed_assignment_that_splits_linked_clips_is_refused():
    clips = pd.DataFrame({"clip_id": ["a", "b", "c"], "song_id": ["s1", "s2", "s3"]})
    assignment = {"s1": "train", "s2": "test", "s3": "train"}
    with pytest.raises(LeakingAssignment, match=r"clip 'a' \(song 's1', train\) shares content with clip 'b'"):
        assign_splits(clips, 0.3, seed=0, song_assignment=assignment, links=[("a", "b")])
    assert list(assign_splits(clips, 0.3, 0, song_assignment=assignment, links=[("a", "c")]).split) == \
        ["train", "test", "train"]


def test_validation_catches_a_link_across_the_split():
    assigned = pd.DataFrame({"clip_id": ["a", "b"], "song_id": ["s1", "s2"], "split": ["train", "test"]})
    validate_splits(assigned)
    with pytest.raises(ValueError, match="clips 'a' \\(train\\) and 'b' \\(test\\) share content"):
        validate_splits(assigned, [("a", "b")])
