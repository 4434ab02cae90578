"""``tiktok-dm songs ...``: thin click wrappers over ``cluster_clips`` and ``identify``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from typing import TYPE_CHECKING

import click

from tiktok_dm.songs.config import SongsConfig

if TYPE_CHECKING:
    import pandas as pd

EXIT_FAILURES = 1
EXIT_INVALID_INPUT = 2

_COMMON_HELP = """
    \b
    Inputs are audio or video files (wav, flac, ogg, mp3, m4a, mp4, webm, ...) or folders, searched
    recursively for such files. Each file is decoded once (its audio track), and once more when no
    library song is named for it at first, to try it slowed down.
    \b
    How it copes with TikTok edits: fingerprints are built from constant-Q spectral peaks grouped in
    fours, hashed only by what a speed change leaves alone (frequency differences in semitones and
    ratios of time differences), so a clip sped up or slowed down by resampling (0.8-1.4x),
    time-stretched (+-10 %) or pitch-shifted (+-2 semitones) hashes like the original. A candidate
    match must then line up in time (one speed, pitch shift and offset) and a large share of its
    peaks must land on the other recording's peaks, far above chance.
"""


def _setup_logging(verbose: int) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose >= 2 else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("tiktok_dm").setLevel(logging.DEBUG if verbose else logging.INFO)


def _config(config_path: Path | None, workers: int | None) -> SongsConfig:
    config = SongsConfig.from_yaml(config_path) if config_path else SongsConfig()
    if workers:
        config.workers = workers
    return config


def _write_csv(table: pd.DataFrame, out: Path) -> None:
    from tiktok_dm.model.tables import write_csv  # pandas: only when a table is written, not for --help

    write_csv(table, out)


def _report_failures(table: pd.DataFrame) -> int:
    failed = table[table["error"] != ""]
    for file, error in zip(failed["file"], failed["error"]):
        click.echo(f"failed: {file}: {error}", err=True)
    return len(failed)


_options = [
    click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
                 help="CSV to write (replaced atomically)."),
    click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="YAML mapping of SongsConfig settings overriding the defaults (thresholds, workers, ...)."),
    click.option("--workers", type=int, help="Processes that fingerprint files in parallel (default 2)."),
    click.option("-v", "--verbose", count=True, help="More log output (-v: ours at debug, -vv: everything)."),
]


def _common_options(function):
    for option in reversed(_options):
        function = option(function)
    return function


@click.group(name="songs", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def songs_group() -> None:
    """Song ids from audio fingerprints that survive TikTok speed-ups.

    \b
    The dataset split must be song-disjoint, so every clip needs a song id. These commands find
    them from the audio alone:
      cluster    group clips that use the same song (optionally through full reference tracks)
      identify   name the reference track each clip uses (or nothing)
    \b
    Examples:
      tiktok-dm songs cluster clips/ --out songs.csv
      tiktok-dm songs cluster clips/ --library tracks/ --index fp_index/ --out songs.csv
      tiktok-dm songs identify --library tracks/ clips/*.mp4 --out ids.csv
    """


@songs_group.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="FILES_OR_DIR...")
@click.option("--library", type=click.Path(path_type=Path), metavar="DIR",
              help="Full reference tracks (a folder of audio files, or an index folder). Clips from different "
                   "parts of one song share no audio; through its reference track they still end up together.")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Keep fingerprints here between runs (clips in DIR/clips, tracks in DIR/library); a re-run "
                   "only fingerprints new or changed files. Without it everything stays in memory.")
@_common_options
def cluster(inputs: tuple[Path, ...], library: Path | None, index_dir: Path | None, out: Path,
            config_path: Path | None, workers: int | None, verbose: int) -> None:
    """Group clips by song; write OUT with one row per input: file,cluster_id,library_song,error.

    \b
    cluster_id is 'lib:<track>' for clips identified as a reference track, else 'cluster-NNNN'
    (numbered in input order): clips with one cluster id share a song. A clip that matches nothing
    gets a cluster of its own, and so does a file that could not be fingerprinted (silent, shorter
    than 1 s, undecodable): its error column says why, and the other files are grouped all the same.
    Exit code 0 when every file was fingerprinted, 1 when some failed (listed on stderr), 2 for
    invalid input.
    \b
    Two clips are linked when their fingerprints line up from both sides; a weak link may attach a
    single clip to a group but never joins two groups, and clips identified as two different
    reference tracks are never joined: a wrong merge would leak a song across the split.
    \b
    Example:
      tiktok-dm songs cluster clips/ --library tracks/ --index fp_index/ --out songs.csv
    """
    from tiktok_dm.songs.cluster import cluster_clips

    _setup_logging(verbose)
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        click.echo(f"invalid input: not found: {', '.join(missing)}", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    if library is not None and not library.is_dir():
        click.echo(f"invalid input: library {library} is not a folder", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    try:
        table = cluster_clips(list(inputs), library=library, index_dir=index_dir,
                              config=_config(config_path, workers))
    except (FileNotFoundError, ValueError) as error:
        click.echo(f"invalid input: {error}", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    if table.empty:
        click.echo("invalid input: no audio or video files found", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    _write_csv(table, out)
    failed = _report_failures(table)
    ok = table[table["error"] == ""]
    sizes = ok["cluster_id"].value_counts()
    click.echo(f"{out}: {len(table)} file(s) -> {table['cluster_id'].nunique()} cluster(s); {len(ok)} fingerprinted, "
               f"{int((sizes == 1).sum())} clip(s) alone, {int((ok['library_song'] != '').sum())} identified in the "
               f"library, {failed} failed")
    sys.exit(EXIT_FAILURES if failed else 0)


cluster.help = (cluster.help or "") + _COMMON_HELP


@songs_group.command()
@click.argument("queries", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="QUERIES...")
@click.option("--library", required=True, type=click.Path(path_type=Path), metavar="DIR",
              help="Full reference tracks (a folder of audio files; the song is the file name without suffix) "
                   "or an index folder.")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Keep the tracks' fingerprints here between runs.")
@_common_options
def identify(queries: tuple[Path, ...], library: Path, index_dir: Path | None, out: Path, config_path: Path | None,
             workers: int | None, verbose: int) -> None:
    """Name the library song of each query; write OUT: file,song,score,speed,pitch_shift,offset_s,error.

    \b
    song is empty when nothing matches well enough (a song missing from the library must not be
    named). speed says how much faster the query plays than the track (1.25: sped up 25 %),
    pitch_shift how far it is transposed (semitones), offset_s where in the track it starts. A query
    no song is named for at first is tried again slowed down 1.1, 1.2 and 1.3x (identify_slowdowns in
    --config; [] turns it off): a strongly sped-up sound under talking or noise is often named only so.
    Exit code 0 when every query was fingerprinted, 1 when some failed, 2 for invalid input.
    \b
    Example:
      tiktok-dm songs identify --library tracks/ --index fp_index/ clips/ --out ids.csv
    """
    from tiktok_dm.songs.library import identify as run_identify

    _setup_logging(verbose)
    missing = [str(p) for p in (*queries, library) if not p.exists()]
    if missing:
        click.echo(f"invalid input: not found: {', '.join(missing)}", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    try:
        table = run_identify(list(queries), library, _config(config_path, workers), index_dir=index_dir)
    except (FileNotFoundError, ValueError) as error:
        click.echo(f"invalid input: {error}", err=True)
        sys.exit(EXIT_INVALID_INPUT)
    _write_csv(table, out)
    failed = _report_failures(table)
    named = int((table["song"] != "").sum())
    click.echo(f"{out}: {len(table)} quer(y/ies): {named} named, {len(table) - named - failed} not in the library, "
               f"{failed} failed")
    sys.exit(EXIT_FAILURES if failed else 0)


identify.help = (identify.help or "") + _COMMON_HELP
