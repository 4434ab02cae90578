"""Song-disjoint, leak-free, deterministic train/test split of the clip table.

D2M-GAN splits TikTok clips by music id so that no song is heard in both train and test
(392/53 clips, 43/43 songs). The split is made per song, never per clip: every clip of a song
lands in the same split. Clips without a song id cannot be placed that way and are skipped.

Song ids alone do not stop a leak: two clips that share audio (a fingerprint link) or show the same
recording may carry different song ids (a clip cut across two videos, a mislabelled row). Such links
join their songs into one group, and groups, not songs, are placed: no link crosses the split. A fixed
song assignment that would put two linked clips on both sides is refused, naming the link.

Split files (``train.csv`` / ``test.csv``) have one row per clip and the columns clip_id,
[compilation_id,] song_id, [num_segments,] then any other columns; ``splits/tiktok_official``
is the official split in this format.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Literal

import numpy as np
import pandas as pd

from tiktok_dm.dataset.song_ids import normalise_song_id
from tiktok_dm.model.tables import read_csv, write_csv

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "test")
# Split value of a clip that could not be placed (no song id).
SKIPPED = ""
LEADING_COLUMNS = ("clip_id", "compilation_id", "song_id", "num_segments")

UnknownSongPolicy = Literal["error", "train", "test"]
# Two clips whose content overlaps (shared audio, the same recording): they must land in one split.
Link = tuple[str, str]


class LeakingAssignment(ValueError):
    """A fixed song assignment would put two linked clips (shared audio or video) in different splits."""


def assign_splits(
    clips: pd.DataFrame,
    test_fraction: float,
    seed: int,
    song_assignment: dict[str, str] | None = None,
    unknown_songs: UnknownSongPolicy = "error",
    links: Iterable[Link] = (),
) -> pd.DataFrame:
    """Return a copy of ``clips`` with a ``split`` column: "train", "test", or "" (skipped).

    ``clips`` needs the columns clip_id and song_id; other columns are kept. Clips with an
    empty or missing song id get split "" and are logged: they cannot be placed song-disjointly.

    With ``song_assignment`` (song id -> "train"/"test") every clip follows its song;
    ``test_fraction`` and ``seed`` are then unused. A song missing from the assignment is an
    error listing every such song, unless ``unknown_songs`` is "train" or "test", which
    places all of them there.

    Without it the split is drawn at random, per song, by this rule:

    1. target = round(test_fraction * number of placeable clips) (Python round, ties to even);
    2. songs are sorted by id (numerically where the id is a number) and shuffled with
       ``numpy.random.default_rng(seed)``, so the result depends only on the seed and the table;
    3. walking that order, a song goes to test if its clips still fit under the target
       (songs that would overshoot are skipped, later smaller ones may still fit);
    4. with at least two songs and 0 < test_fraction < 1, each split gets at least one song:
       if test is empty its smallest song joins it, if train is empty test's smallest song
       moves back (the first in shuffled order wins a tie).

    ``links`` (pairs of clip ids whose content overlaps) join the songs of their clips into one
    group; the rule above then places groups, each named by its smallest song id (so without links,
    or with links inside songs only, it is the per-song rule exactly). With ``song_assignment``, a
    link between songs assigned to different splits raises ``LeakingAssignment``.
    """
    _require_columns(clips, ("clip_id", "song_id"), "clip table")
    _check_test_fraction(test_fraction)
    result = clips.copy()
    song_keys = result["song_id"].map(normalise_song_id)
    songless = song_keys == SKIPPED
    _log_songless(result.loc[songless, "clip_id"])
    placeable = song_keys[~songless]
    links = list(links)
    group_of = song_groups(dict(zip(result["clip_id"].map(str), song_keys)), links)
    if song_assignment is None:
        groups = placeable.map(group_of)
        group_to_split = random_song_assignment(groups.value_counts().to_dict(), test_fraction, seed)
        song_to_split = {song: group_to_split[group_of[song]] for song in set(placeable)}
    else:
        song_to_split = _complete_assignment(song_assignment, set(placeable), unknown_songs)
        _refuse_leaks(song_to_split, dict(zip(result["clip_id"].map(str), song_keys)), links)
    result["split"] = song_keys.map(lambda song: song_to_split.get(song, SKIPPED))
    validate_splits(result, links)
    _log_summary(result["split"], song_keys, test_fraction)
    return result


def song_groups(song_of_clip: dict[str, str], links: Iterable[Link]) -> dict[str, str]:
    """Song id -> the group it is placed with: songs joined by a link between two of their clips (transitively),
    each group named by its smallest song id (numbers first). Clips without a song id or not in the table and
    links inside one song join nothing."""
    parent = {song: song for song in song_of_clip.values() if song != SKIPPED}

    def root(song: str) -> str:
        while parent[song] != song:
            parent[song] = parent[parent[song]]
            song = parent[song]
        return song

    for a, b in links:
        song_a, song_b = song_of_clip.get(str(a), SKIPPED), song_of_clip.get(str(b), SKIPPED)
        if song_a == SKIPPED or song_b == SKIPPED:
            continue
        first, second = sorted((root(song_a), root(song_b)), key=_natural_key)
        parent[second] = first
    return {song: root(song) for song in parent}


def _refuse_leaks(song_to_split: dict[str, str], song_of_clip: dict[str, str], links: Iterable[Link]) -> None:
    leaks = []
    for a, b in links:
        song_a, song_b = song_of_clip.get(str(a), SKIPPED), song_of_clip.get(str(b), SKIPPED)
        split_a, split_b = song_to_split.get(song_a), song_to_split.get(song_b)
        if split_a and split_b and split_a != split_b:
            leaks.append(f"clip {a!r} (song {song_a!r}, {split_a}) shares content with clip {b!r} (song {song_b!r}, "
                         f"{split_b})")
    if leaks:
        raise LeakingAssignment("the fixed song assignment would put clips that share audio or video on both sides "
                                "of the split:\n  " + "\n  ".join(leaks))


def random_song_assignment(clips_per_song: dict[str, int], test_fraction: float, seed: int) -> dict[str, str]:
    """Song id -> "train"/"test" by the random rule documented in :func:`assign_splits`."""
    _check_test_fraction(test_fraction)
    shuffled = _shuffled_songs(clips_per_song, seed)
    target = round(test_fraction * sum(clips_per_song.values()))
    test_songs = _greedy_test_songs(shuffled, clips_per_song, target)
    if len(shuffled) >= 2 and 0 < test_fraction < 1:
        test_songs = _keep_both_splits_nonempty(shuffled, test_songs, clips_per_song)
    return {song: ("test" if song in test_songs else "train") for song in shuffled}


def song_assignment_from_split_dir(path: str | Path) -> dict[str, str]:
    """Song id -> split read from ``train.csv`` / ``test.csv`` in ``path`` (e.g. splits/tiktok_official).

    Raises ``ValueError`` if a song appears in both files or a row has no song id.
    """
    path = Path(path)
    songs_by_split = {split: _songs_in_split_file(path / f"{split}.csv") for split in SPLIT_NAMES}
    in_both = sorted(songs_by_split["train"] & songs_by_split["test"], key=_natural_key)
    if in_both:
        raise ValueError(f"{path}: song id(s) {in_both} appear in both train.csv and test.csv")
    return {song: split for split, songs in songs_by_split.items() for song in songs}


def read_split_file(path: str | Path) -> pd.DataFrame:
    """Read a split CSV with every column as text (keeps "000007" and "" as written)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} does not exist")
    frame = read_csv(path)
    missing = [column for column in ("clip_id", "song_id") if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; header is {list(frame.columns)}")
    return frame


def write_split_files(assigned: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """Write ``train.csv`` and ``test.csv`` under ``out_dir`` atomically; return their paths.

    Rows are sorted by clip id (numerically where ids are numbers); columns are clip_id,
    compilation_id (if present), song_id, num_segments (if present), then the remaining
    columns except ``split``. Skipped rows (split "") are not written.
    """
    _check_split_column(assigned)
    validate_splits(assigned)
    out_dir = Path(out_dir)
    columns = _output_columns(assigned.columns)
    written = {}
    for split in SPLIT_NAMES:
        rows = assigned[assigned["split"] == split]
        rows = rows.iloc[_natural_order(rows["clip_id"])][columns]
        target = out_dir / f"{split}.csv"
        write_csv(rows, target, lineterminator="\n")
        logger.info("wrote %d %s clips to %s", len(rows), split, target)
        written[split] = target
    skipped = int((assigned["split"] == SKIPPED).sum())
    if skipped:
        logger.info("%d skipped clips (no song id) are in neither split file", skipped)
    return written


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}")


def _check_test_fraction(test_fraction: float) -> None:
    if not 0 <= test_fraction <= 1:
        raise ValueError(f"test_fraction must be within [0, 1], got {test_fraction}")


def _check_split_column(assigned: pd.DataFrame) -> None:
    if "split" not in assigned.columns:
        raise ValueError("table has no 'split' column; run assign_splits first")
    allowed = set(SPLIT_NAMES) | {SKIPPED}
    bad = sorted({str(value) for value in assigned["split"] if value not in allowed})
    if bad:
        raise ValueError(f"unknown split value(s) {bad}; expected one of {sorted(allowed)}")


def _log_songless(clip_ids: pd.Series) -> None:
    if clip_ids.empty:
        return
    logger.warning(
        "skipping %d clip(s) without a song id (they cannot be split song-disjointly): %s",
        len(clip_ids),
        sorted((str(clip_id) for clip_id in clip_ids), key=_natural_key),
    )


def _log_summary(splits: pd.Series, song_keys: pd.Series, test_fraction: float) -> None:
    counts = {split: (int((splits == split).sum()), song_keys[splits == split].nunique()) for split in SPLIT_NAMES}
    logger.info(
        "split: train %d clips / %d songs, test %d clips / %d songs (test_fraction %.4f), %d skipped",
        *counts["train"],
        *counts["test"],
        test_fraction,
        int((splits == SKIPPED).sum()),
    )


def _complete_assignment(
    song_assignment: dict[str, str], songs: set[str], unknown_songs: UnknownSongPolicy
) -> dict[str, str]:
    """Normalise the given assignment and place the songs it does not know per ``unknown_songs``."""
    if unknown_songs not in ("error", *SPLIT_NAMES):
        raise ValueError(f"unknown_songs must be 'error', 'train' or 'test', got {unknown_songs!r}")
    assignment = {normalise_song_id(song): split for song, split in song_assignment.items()}
    bad = {song: split for song, split in assignment.items() if split not in SPLIT_NAMES}
    if bad:
        raise ValueError(f"song assignment has split values other than train/test: {bad}")
    unknown = sorted(songs - assignment.keys(), key=_natural_key)
    if unknown and unknown_songs == "error":
        raise ValueError(f"song id(s) not in the song assignment: {unknown}")
    if unknown:
        logger.warning("placing %d song(s) missing from the assignment in %s: %s", len(unknown), unknown_songs, unknown)
    return {**assignment, **{song: unknown_songs for song in unknown}}


def _shuffled_songs(clips_per_song: dict[str, int], seed: int) -> list[str]:
    # Sorting first makes the shuffle independent of the table's row order.
    songs = sorted(clips_per_song, key=_natural_key)
    order = np.random.default_rng(seed).permutation(len(songs))
    return [songs[index] for index in order]


def _greedy_test_songs(shuffled: list[str], clips_per_song: dict[str, int], target: int) -> list[str]:
    chosen, taken = [], 0
    for song in shuffled:
        if taken + clips_per_song[song] <= target:
            chosen.append(song)
            taken += clips_per_song[song]
    return chosen


def _keep_both_splits_nonempty(shuffled: list[str], test_songs: list[str], clips_per_song: dict[str, int]) -> list[str]:
    # min() returns the first minimum, so ties go to the earliest song in shuffled order.
    if not test_songs:
        return [min(shuffled, key=clips_per_song.__getitem__)]
    if len(test_songs) == len(shuffled):
        smallest = min(test_songs, key=clips_per_song.__getitem__)
        return [song for song in test_songs if song != smallest]
    return test_songs


def _songs_in_split_file(path: Path) -> set[str]:
    frame = read_split_file(path)
    songs = set()
    for line_number, value in enumerate(frame["song_id"], start=2):  # line 1 is the header
        song = normalise_song_id(value)
        if not song:
            raise ValueError(f"{path}:{line_number}: empty song_id")
        songs.add(song)
    return songs


def _output_columns(columns: Iterable[str]) -> list[str]:
    columns = list(columns)
    leading = [column for column in LEADING_COLUMNS if column in columns]
    rest = [column for column in columns if column not in leading and column != "split"]
    return leading + rest


def _natural_key(value: str) -> tuple[int, int, str]:
    """Numbers before text, numbers by value: "2" < "10" < "a"."""
    text = str(value).strip()
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def _natural_order(values: pd.Series) -> list[int]:
    keys = [_natural_key(value) for value in values]
    return sorted(range(len(keys)), key=keys.__getitem__)


# --------------------------------------------------------------------------- the split's invariant


def validate_splits(assigned: pd.DataFrame, links: Iterable[Link] = ()) -> None:
    """Raise ``ValueError`` if the split leaks a song or a link across train/test or repeats a clip.

    ``assigned`` needs the columns clip_id, song_id and split. Rows whose split is neither
    "train" nor "test" (skipped clips, split "") are ignored for the song and link checks, but
    still count for the duplicate-clip check: a clip id must name one clip, placed or not.
    Every problem is listed in one error so a bad split can be fixed in one go.
    """
    _require_columns(assigned, ("clip_id", "song_id", "split"), "split table")
    problems = (_duplicate_clip_problems(assigned) + _leaked_song_problems(assigned)
                + _leaked_link_problems(assigned, links))
    if problems:
        raise ValueError("invalid train/test split:\n  " + "\n  ".join(problems))
    logger.debug("split of %d clips passed validation", len(assigned))


def _duplicate_clip_problems(assigned: pd.DataFrame) -> list[str]:
    clip_ids = assigned["clip_id"].map(lambda value: str(value).strip())
    duplicated = sorted(set(clip_ids[clip_ids.duplicated()]))
    return [f"clip id {clip_id!r} appears {int((clip_ids == clip_id).sum())} times" for clip_id in duplicated]


def _leaked_link_problems(assigned: pd.DataFrame, links: Iterable[Link]) -> list[str]:
    split_of = {str(clip): split for clip, split in zip(assigned["clip_id"], assigned["split"]) if split in SPLIT_NAMES}
    return [f"clips {a!r} ({split_of[str(a)]}) and {b!r} ({split_of[str(b)]}) share content but are in both splits"
            for a, b in links if str(a) in split_of and str(b) in split_of and split_of[str(a)] != split_of[str(b)]]


def _leaked_song_problems(assigned: pd.DataFrame) -> list[str]:
    placed = assigned[assigned["split"].isin(SPLIT_NAMES)]
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
