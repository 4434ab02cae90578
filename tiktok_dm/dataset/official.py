"""Read the official D2M-GAN segment lists and convert them into this package's split files.

TikTok segment files are named ``{COMP:06d}_{MUSIC}_{CLIP}_seg{K}`` (compilation, music id,
global clip id, 1-based 2-second segment index); :func:`tiktok_dm.model.names.format_segment_name`
is the one place that builds such a name, so the pipeline's files match the official lists.

Run ``python -m tiktok_dm.dataset.official ../shared/reference splits`` to (re)write
``splits/tiktok_official`` (official TikTok clip split) and ``splits/aistpp_crossmodal``
(AIST++ crossmodal sequence lists).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd

from tiktok_dm.dataset.split import SPLIT_NAMES, write_split_files
from tiktok_dm.model.atomic import atomic_write_text
from tiktok_dm.model.names import parse_segment_name

logger = logging.getLogger(__name__)

TIKTOK_LINE = re.compile(r"^\./tiktok/(?P<modality>audio|video|motion)_s2/(?P<stem>[^/]+)\.(?P<ext>wav|npy)$")
AIST_LINE = re.compile(
    r"^\./aistplus/(?P<modality>audio|video|motion)_s2/(?P<split>train|test)/"
    r"(?P<sequence>[^/]+)_seg(?P<k>\d+)\.(?P<ext>wav|npy)$"
)
# Audio segments are wav files, video (I3D) and motion (skeleton) segments are numpy arrays.
EXTENSION_BY_MODALITY = {"audio": "wav", "video": "npy", "motion": "npy"}
# AIST++ lists name a sequence with "cAll" or a concrete camera ("c01"); D2M uses c01.
AIST_CAMERA = re.compile(r"_c(?:\d{2}|All)_")
SEQUENCE_SUFFIXES = (".json", ".pkl")

TIKTOK_OFFICIAL_DIR = "tiktok_official"
AIST_CROSSMODAL_DIR = "aistpp_crossmodal"
CONVERT_COMMAND = "python -m tiktok_dm.dataset.official ../shared/reference splits"


@dataclasses.dataclass(frozen=True)
class ConversionSummary:
    """Counts of what :func:`convert_official_lists` wrote."""

    tiktok_clips: dict[str, int]
    tiktok_songs: dict[str, int]
    tiktok_segments: dict[str, int]
    aist_sequences: dict[str, int]


def read_tiktok_segment_list(path: str | Path) -> pd.DataFrame:
    """One row per line of an official TikTok list: segment, compilation, music, clip, k.

    Blank lines are ignored; a malformed or repeated line raises ``ValueError`` naming
    the file and line number.
    """
    path = Path(path)
    rows = []
    first_line_of_segment: dict[str, int] = {}
    for line_number, line in _numbered_lines(path):
        match = TIKTOK_LINE.match(line)
        if match is None:
            raise ValueError(f"{path}:{line_number}: not a ./tiktok/<modality>_s2/<segment>.<ext> path: {line!r}")
        _check_extension(path, line_number, match)
        try:
            name = parse_segment_name(match["stem"])
        except ValueError as error:
            raise ValueError(f"{path}:{line_number}: {error}") from error
        _reject_repeat(path, line_number, name.stem, first_line_of_segment)
        rows.append({"segment": name.stem, **dataclasses.asdict(name)})
    return pd.DataFrame(rows, columns=["segment", "compilation", "music", "clip", "k"])


def tiktok_clips_from_segments(segments: pd.DataFrame) -> pd.DataFrame:
    """One row per clip, sorted by clip id: clip_id, compilation_id ("000007"), song_id, num_segments.

    Raises ``ValueError`` if a clip's segments disagree on its compilation or music id.
    """
    missing = [column for column in ("compilation", "music", "clip", "k") if column not in segments.columns]
    if missing:
        raise ValueError(f"segment table lacks column(s) {missing}")
    per_clip = segments.groupby("clip", sort=True).agg(
        compilations=("compilation", "nunique"),
        musics=("music", "nunique"),
        compilation=("compilation", "first"),
        music=("music", "first"),
        num_segments=("k", "size"),
    )
    inconsistent = per_clip.index[(per_clip["compilations"] > 1) | (per_clip["musics"] > 1)].tolist()
    if inconsistent:
        raise ValueError(f"clip(s) {inconsistent} have segments with different compilation or music ids")
    _log_gapped_clips(segments)
    return pd.DataFrame(
        {
            "clip_id": [str(clip) for clip in per_clip.index],
            "compilation_id": [f"{compilation:06d}" for compilation in per_clip["compilation"]],
            "song_id": [str(music) for music in per_clip["music"]],
            "num_segments": per_clip["num_segments"].astype(int).tolist(),
        }
    )


def read_aist_segment_list(path: str | Path) -> pd.DataFrame:
    """One row per line of an official AIST++ list: segment, sequence, k, split (the list's folder)."""
    path = Path(path)
    rows = []
    first_line_of_segment: dict[str, int] = {}
    for line_number, line in _numbered_lines(path):
        match = AIST_LINE.match(line)
        if match is None:
            raise ValueError(
                f"{path}:{line_number}: not a ./aistplus/<modality>_s2/<split>/<seq>_seg<K>.<ext> path: {line!r}"
            )
        _check_extension(path, line_number, match)
        k = int(match["k"])
        if k < 1 or str(k) != match["k"]:
            raise ValueError(f"{path}:{line_number}: segment index {match['k']!r} is not a canonical 1-based integer")
        segment = f"{match['sequence']}_seg{k}"
        _reject_repeat(path, line_number, segment, first_line_of_segment)
        rows.append({"segment": segment, "sequence": match["sequence"], "k": k, "split": match["split"]})
    return pd.DataFrame(rows, columns=["segment", "sequence", "k", "split"])


def camera_agnostic_sequence_name(sequence: str) -> str:
    """AIST++ name with its camera replaced by ``cAll`` (the form the annotation lists use)."""
    if AIST_CAMERA.search(sequence) is None:
        raise ValueError(f"AIST++ sequence name {sequence!r} has no _cNN_ or _cAll_ camera field")
    return AIST_CAMERA.sub("_cAll_", sequence, count=1)


def read_sequence_list(path: str | Path) -> list[str]:
    """Sequence names of an AIST++ list, normalised: stripped, no .json/.pkl suffix, sorted, unique."""
    path = Path(path)
    names = [_strip_sequence_suffix(line) for _, line in _numbered_lines(path)]
    unique = sorted(set(names))
    if len(unique) != len(names):
        logger.warning("%s: dropped %d repeated sequence name(s)", path, len(names) - len(unique))
    return unique


def convert_official_lists(reference_dir: str | Path, splits_dir: str | Path) -> ConversionSummary:
    """Write ``splits_dir/tiktok_official`` and ``splits_dir/aistpp_crossmodal`` from ``reference_dir``.

    ``reference_dir`` holds ``d2m_official/`` (the D2M-GAN release's segment lists) and
    ``aistpp_splits/`` (EDGE's copy of the AIST++ crossmodal lists).
    """
    reference_dir, splits_dir = Path(reference_dir), Path(splits_dir)
    tiktok = _convert_tiktok(reference_dir / "d2m_official", splits_dir / TIKTOK_OFFICIAL_DIR)
    aist_counts = _convert_aist(reference_dir / "aistpp_splits", splits_dir / AIST_CROSSMODAL_DIR)
    summary = ConversionSummary(*tiktok, aist_sequences=aist_counts)
    logger.info("converted official lists: %s", summary)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tiktok_dm.dataset.official",
        description="Write splits/tiktok_official and splits/aistpp_crossmodal from the official lists.",
    )
    parser.add_argument("reference_dir", type=Path, help="folder with d2m_official/ and aistpp_splits/")
    parser.add_argument("splits_dir", type=Path, help="output folder, normally the repository's splits/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    convert_official_lists(args.reference_dir, args.splits_dir)
    return 0


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Stripped non-blank lines with their 1-based line numbers."""
    if not path.is_file():
        raise FileNotFoundError(f"list file {path} does not exist")
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                yield line_number, line.strip()


def _check_extension(path: Path, line_number: int, match: re.Match[str]) -> None:
    expected = EXTENSION_BY_MODALITY[match["modality"]]
    if match["ext"] != expected:
        raise ValueError(
            f"{path}:{line_number}: {match['modality']} segments are .{expected} files, got .{match['ext']}"
        )


def _reject_repeat(path: Path, line_number: int, segment: str, first_line_of_segment: dict[str, int]) -> None:
    if segment in first_line_of_segment:
        raise ValueError(
            f"{path}:{line_number}: segment {segment} already listed on line {first_line_of_segment[segment]}"
        )
    first_line_of_segment[segment] = line_number


def _log_gapped_clips(segments: pd.DataFrame) -> None:
    # The official lists number every clip's segments 1..n; a gap means a lost segment.
    gapped = [clip for clip, ks in segments.groupby("clip")["k"] if sorted(ks) != list(range(1, len(ks) + 1))]
    if gapped:
        logger.warning("clip(s) %s have segment indices that are not 1..n", gapped)


def _strip_sequence_suffix(name: str) -> str:
    for suffix in SEQUENCE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _source_line(folder: Path) -> str:
    """First line of the folder's SOURCES.txt (where its files were copied from)."""
    sources = folder / "SOURCES.txt"
    if not sources.is_file():
        return "unknown (no SOURCES.txt next to the lists)"
    return next((line for _, line in _numbered_lines(sources)), "unknown (empty SOURCES.txt)")


def _convert_tiktok(d2m_dir: Path, out_dir: Path) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    frames, segment_counts = [], {}
    for split in SPLIT_NAMES:
        segments = _read_parallel_tiktok_lists(d2m_dir, split)
        clips = tiktok_clips_from_segments(segments)
        clips["split"] = split
        frames.append(clips)
        segment_counts[split] = len(segments)
    clips = pd.concat(frames, ignore_index=True)
    write_split_files(clips, out_dir)  # also checks song and clip disjointness
    clip_counts = {split: int((clips["split"] == split).sum()) for split in SPLIT_NAMES}
    song_counts = {split: clips.loc[clips["split"] == split, "song_id"].nunique() for split in SPLIT_NAMES}
    compilations = {split: clips.loc[clips["split"] == split, "compilation_id"].nunique() for split in SPLIT_NAMES}
    readme = _tiktok_readme(clip_counts, song_counts, segment_counts, compilations, clips["song_id"].nunique(), d2m_dir)
    atomic_write_text(out_dir / "README.md", readme)
    return clip_counts, song_counts, segment_counts


def _read_parallel_tiktok_lists(d2m_dir: Path, split: str) -> pd.DataFrame:
    """The audio list of ``split``, after checking the video/motion lists name the same segments in order."""
    audio_path = d2m_dir / f"tiktok_audio_{split}_segment.txt"
    segments = read_tiktok_segment_list(audio_path)
    for modality in ("video", "motion"):
        other_path = d2m_dir / f"tiktok_{modality}_{split}_segment.txt"
        if not other_path.is_file():
            logger.info("no %s; only the audio list is used for %s", other_path, split)
            continue
        if read_tiktok_segment_list(other_path)["segment"].tolist() != segments["segment"].tolist():
            raise ValueError(f"{other_path} does not list the same segments in the same order as {audio_path}")
    return segments


def _tiktok_readme(
    clips: dict[str, int],
    songs: dict[str, int],
    segments: dict[str, int],
    compilations: dict[str, int],
    total_songs: int,
    d2m_dir: Path,
) -> str:
    table = "\n".join(
        f"| {split} | {clips[split]} | {songs[split]} | {segments[split]} | {compilations[split]} |"
        for split in SPLIT_NAMES
    )
    return f"""# Official D2M-GAN TikTok split

`train.csv` / `test.csv`: the train/test split of the TikTok dance-music dataset used by D2M-GAN
(Zhu et al., ECCV 2022), one row per clip, sorted by clip id.

Source: the official D2M-GAN release, `dataset/tiktok_audio_{{train,test}}_segment.txt`.
Provenance of the copy that was converted:

> {_source_line(d2m_dir)}

| split | clips | songs (music ids) | 2-s segments | compilations |
|---|---|---|---|---|
{table}

No song is in both splits and no clip is repeated (checked by `tiktok_dm.dataset.split.validate_splits`).
The lists hold {total_songs} distinct music ids; the paper speaks of 85 songs.

## Columns

- `clip_id`: global clip id, the CLIP field of the segment names.
- `compilation_id`: compilation video id, six digits zero-padded (the COMP field).
- `song_id`: music id (the MUSIC field).
- `num_segments`: how many 2-second segments the official lists hold for the clip.

## How these files were made

Each line `./tiktok/audio_s2/{{COMP}}_{{MUSIC}}_{{CLIP}}_seg{{K}}.wav` of the audio lists was parsed
(`tiktok_dm.dataset.official.read_tiktok_segment_list`) and grouped per clip; the video and motion lists were
checked to name the same segments in the same order. Regenerate (also writes `../{AIST_CROSSMODAL_DIR}`) with

    {CONVERT_COMMAND}

`tests/test_official.py` checks that the committed files equal a fresh conversion. To reuse this split
for a new build, point `split.song_assignment` at this folder: every clip then follows its song.
"""


def _convert_aist(lists_dir: Path, out_dir: Path) -> dict[str, int]:
    lists = {
        "train": read_sequence_list(lists_dir / "crossmodal_train.txt"),
        "test": read_sequence_list(lists_dir / "crossmodal_test.txt"),
        "ignore_list": read_sequence_list(lists_dir / "ignore_list.txt"),
    }
    in_both = sorted(set(lists["train"]) & set(lists["test"]))
    if in_both:
        raise ValueError(f"{lists_dir}: sequence(s) in both crossmodal_train.txt and crossmodal_test.txt: {in_both}")
    for name, sequences in lists.items():
        atomic_write_text(out_dir / f"{name}.txt", "".join(f"{sequence}\n" for sequence in sequences))
    counts = {name: len(sequences) for name, sequences in lists.items()}
    ignored_in_train = len(set(lists["train"]) & set(lists["ignore_list"]))
    atomic_write_text(out_dir / "README.md", _aist_readme(counts, ignored_in_train, lists_dir))
    return counts


def _aist_readme(counts: dict[str, int], ignored_in_train: int, lists_dir: Path) -> str:
    return f"""# AIST++ crossmodal split (as used by D2M-GAN)

AIST++ sequence names in the camera-agnostic `cAll` form, one per line, sorted:

- `train.txt`: {counts["train"]} sequences (AIST++ `crossmodal_train.txt`)
- `test.txt`: {counts["test"]} sequences (AIST++ `crossmodal_test.txt`)
- `ignore_list.txt`: {counts["ignore_list"]} sequences AIST++ lists as not to be used (its annotations' `ignore_list.txt`)

Source: EDGE's copy of the AIST++ crossmodal lists. Provenance of the copy that was converted:

> {_source_line(lists_dir)}

The split is music-disjoint (the AIST++/mint crossmodal rule). No public `crossmodal_val.txt` was
found; D2M-GAN uses no validation set.

D2M-GAN's official `aist_*_{{train,test}}_segment.txt` lists cover exactly these train and test
sequences (with camera `c01`). {ignored_in_train} of the train sequences are in `ignore_list.txt`;
D2M-GAN did not filter them out, so neither do these files.

## How these files were made

Each list was normalised: whitespace stripped, blank lines dropped, any `.json`/`.pkl` suffix removed,
repeats removed, names sorted. Regenerate (also writes `../{TIKTOK_OFFICIAL_DIR}`) with

    {CONVERT_COMMAND}
"""


if __name__ == "__main__":
    raise SystemExit(main())
