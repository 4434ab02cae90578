"""Quality checks on build outputs that must hold before anything is written or published."""

from __future__ import annotations

import logging

import pandas as pd

logger = logging.getLogger(__name__)

PLACED_SPLITS = ("train", "test")


def validate_splits(assigned: pd.DataFrame) -> None:
    """Raise ``ValueError`` if the split leaks a song across train/test or repeats a clip.

    ``assigned`` needs the columns clip_id, song_id and split. Rows whose split is neither
    "train" nor "test" (skipped clips, split "") are ignored for the song check, but still
    count for the duplicate-clip check: a clip id must name one clip, placed or not.
    Every problem is listed in one error so a bad split can be fixed in one go.
    """
    _require_columns(assigned, ("clip_id", "song_id", "split"))
    problems = _duplicate_clip_problems(assigned) + _leaked_song_problems(assigned)
    if problems:
        raise ValueError("invalid train/test split:\n  " + "\n  ".join(problems))
    logger.debug("split of %d clips passed validation", len(assigned))


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"split table lacks column(s) {missing}; it has {list(frame.columns)}")


def _duplicate_clip_problems(assigned: pd.DataFrame) -> list[str]:
    clip_ids = assigned["clip_id"].map(lambda value: str(value).strip())
    duplicated = sorted(set(clip_ids[clip_ids.duplicated()]))
    return [f"clip id {clip_id!r} appears {int((clip_ids == clip_id).sum())} times" for clip_id in duplicated]


def _leaked_song_problems(assigned: pd.DataFrame) -> list[str]:
    placed = assigned[assigned["split"].isin(PLACED_SPLITS)]
    # str() so that ids read back from CSV (str) and ids built in memory (int) group alike.
    songs = placed["song_id"].map(lambda value: str(value).strip())
    problems = []
    for song_id, rows in placed.groupby(songs, sort=True):
        if rows["split"].nunique() < 2:
            continue
        train_clips = sorted(str(c) for c in rows.loc[rows["split"] == "train", "clip_id"])
        test_clips = sorted(str(c) for c in rows.loc[rows["split"] == "test", "clip_id"])
        problems.append(f"song {song_id!r} is in both splits: train clips {train_clips}, test clips {test_clips}")
    return problems
