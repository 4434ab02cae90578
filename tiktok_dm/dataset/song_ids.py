"""Song ids: every rule that decides which song a clip is, in one module.

* A clip with a ``song_id`` in the manifest keeps it (``SongSource.MANIFEST``).
* A clip without one takes an id from its fingerprint cluster (``SongSource.FINGERPRINT``). Cluster ids
  (``tiktok_dm.songs.cluster``: which clips share audio) are not song ids: a cluster that holds clips
  with a given id lends that id to its clips without one (else the same song would carry two ids and
  could land on both sides of the split; ties: the smallest id). A cluster with no given id gets a new
  id: ``lib:<track>`` when it was identified as a reference track of the library, else ``fp:<name>``
  after the smallest name (clip id, file stem) among its clips, so the id stays the same on every
  re-run and does not depend on the order of the manifest. A new id never equals a given id (a suffix
  ``-2``, ``-3``, ... is added if it would).
* Clips whose fingerprint groups them with clips of another given id are reported
  (``song_contradictions.csv``), never silently relabelled; so is a clip without an id whose audio joins
  clips of several given ids (it takes the id most of them carry, and the split keeps them together).
* Every verified audio link between two clips is kept (``ClipSongs.links``): the split places linked clips
  on one side whatever their song ids (``tiktok_dm.dataset.split``).
* A clip without a given id whose audio cannot be fingerprinted gets no id: it fails at stage ``songs``
  (``ErrorKind.NO_SONG_ID``); with automatic song ids off it is skipped instead.
* An empty or missing id, written any way a table may hold it (None, NaN, blank), is ``""`` when ids are
  grouped (:func:`normalise_song_id`): such clips cannot be placed song-disjointly.

``resolve_clip_songs`` applies these rules in a build, after the fingerprint stage: the fingerprints go
into the build's on-disk index ``songs/index`` (only clips new or changed since the last run are added),
the clips are clustered, optionally through the reference tracks of a library (``songs.library``; a
folder of tracks is indexed once into ``songs/library``), and every clip gets its song id.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Iterable, Mapping

import pandas as pd

from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.clips import SongSource
from tiktok_dm.model.links import AudioLink
from tiktok_dm.model.outputs import FingerprintOutput
from tiktok_dm.model.records import StageRecord
from tiktok_dm.model.tables import write_csv
from tiktok_dm.songs.cluster import assign_ids, cluster_clips, cluster_index
from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.fingerprint import Fingerprints
from tiktok_dm.songs.index import FingerprintIndex
from tiktok_dm.songs.library import load_library

if TYPE_CHECKING:
    from tiktok_dm.config import SongIdConfig

log = logging.getLogger(__name__)

SONGS_DIR = "songs"
CONTRADICTIONS_CSV = "song_contradictions.csv"
CONTRADICTION_COLUMNS = ["clip_id", "given_song_id", "fingerprint_song_id", "support", "own_support", "library_song",
                         "cluster_song_ids"]
RESOLVED_COLUMNS = ["file", "song_id", "source", "cluster_id", "library_song", "error"]
SONGS_OFF = ("song_id is empty and automatic song ids are off (songs.enabled: false); give song_id to place the "
             "clip in a split")


def _natural_key(value: str) -> tuple[int, int, str]:
    """Numbers before text, numbers by value: "2" < "10" < "a"."""
    text = str(value).strip()
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def normalise_song_id(value: object) -> str:
    """Song id as the text key used for grouping; "" for a missing id (None, NaN, blank)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        # A NaN elsewhere in an int column turns 7 into 7.0; it still names song "7".
        if value.is_integer():
            return str(int(value))
    return str(value).strip()


@dataclasses.dataclass(frozen=True)
class Contradiction:
    """A clip whose fingerprint groups it with clips that carry another song id."""

    file: str
    given_song_id: str
    # The song id most clips of the clip's fingerprint cluster carry.
    fingerprint_song_id: str
    cluster_id: str
    # How many clips of that cluster carry fingerprint_song_id, and how many carry the clip's own id (a clip
    # without a given id that links songs: how many clips with a given id its audio links it to, and 0).
    support: int
    own_support: int
    # Every given id in the cluster, in natural order (two or more: that is the contradiction).
    cluster_song_ids: tuple[str, ...] = ()


def find_contradictions(assignments: Mapping[str, str], clusters: pd.DataFrame) -> list[Contradiction]:
    """Clips whose fingerprint says another song than their given id.

    ``assignments``: file -> given song id (files without one may be left out). ``clusters``: the
    ``cluster_clips`` table. Within each cluster the given id most clips carry wins; every clip carrying
    another id is returned (all of them on a tie). Clips of one given id spread over several clusters are
    not contradictions: excerpts of one song need not share audio.
    """
    given = {str(k): v for k, v in assignments.items() if v}
    table = clusters[clusters["file"].isin(given)]
    found = []
    for cluster_id, group in table.groupby("cluster_id", sort=True):
        labels = group["file"].map(given)
        counts = labels.value_counts()
        if len(counts) < 2:
            continue
        top = counts.iloc[0]
        winners = sorted(counts[counts == top].index)
        ids = tuple(sorted(counts.index, key=_natural_key))
        for file, label in zip(group["file"], labels):
            if label in winners and len(winners) == 1:
                continue
            other = winners[0] if winners[0] != label else (winners[1] if len(winners) > 1 else winners[0])
            found.append(Contradiction(file=file, given_song_id=label, fingerprint_song_id=other,
                                       cluster_id=str(cluster_id), support=int(counts[other]),
                                       own_support=int(counts[label]), cluster_song_ids=ids))
    return found


def find_bridges(given: Mapping[str, str | None], song_of: Mapping[str, str], links: Iterable[AudioLink],
                 cluster_of: Mapping[str, str]) -> list[Contradiction]:
    """Clips without a given id whose audio links them straight to clips of two or more given ids (a clip cut across
    two videos): each is a contradiction, whatever id it took (``song_of``)."""
    neighbours: dict[str, set[str]] = {}
    for link in links:
        for clip, other in ((link.clip_a, link.clip_b), (link.clip_b, link.clip_a)):
            if not given.get(clip) and given.get(other):
                neighbours.setdefault(clip, set()).add(given[other])
    found = []
    for clip, ids in sorted(neighbours.items()):
        if len(ids) < 2:
            continue
        took = song_of.get(clip, "")
        linked = {other for link in links for a, other in ((link.clip_a, link.clip_b), (link.clip_b, link.clip_a))
                  if a == clip and given.get(other)}
        found.append(Contradiction(file=clip, given_song_id="", fingerprint_song_id=took,
                                   cluster_id=cluster_of.get(clip, ""), support=len(linked), own_support=0,
                                   cluster_song_ids=tuple(sorted(ids, key=_natural_key))))
    return found


@dataclasses.dataclass(frozen=True)
class SongIds:
    # One row per clip (RESOLVED_COLUMNS): song_id ('' when it has none) and where it came from (source:
    # 'manifest' or 'fingerprint', '' when it has none); cluster_id the clip's fingerprint cluster,
    # library_song the reference track the clip was identified as, error why it could not be fingerprinted.
    table: pd.DataFrame
    contradictions: list[Contradiction]


def resolve_song_ids(clips: Mapping[str, str | None], library: str | os.PathLike | FingerprintIndex | None = None,
                     index_dir: str | os.PathLike | None = None, config: SongsConfig | None = None) -> SongIds:
    """Song ids of audio or video files. ``clips``: clip file (not folder) -> song id from the manifest
    (None or '' when it has none)."""
    caller_key = {str(Path(f)): f for f in clips}
    clusters = cluster_clips(list(clips), library=library, index_dir=index_dir, config=config)
    clusters["file"] = clusters["file"].map(caller_key)  # the caller's spelling of each path
    return assign_song_ids(clusters, clips)


def assign_song_ids(clusters: pd.DataFrame, given: Mapping[str, str | None],
                    names: Mapping[str, str] | None = None) -> SongIds:
    """Song ids from a ``cluster_clips``-like table (file, cluster_id, library_song, error).

    ``given``: file -> manifest id (None/'' when none). ``names``: file -> the name new ids are made from
    (default: the file's stem).
    """
    given = {f: s for f, s in given.items() if s}
    names = dict(names) if names is not None else {f: Path(f).stem for f in clusters["file"]}
    fingerprinted = clusters[clusters["error"] == ""]
    borrowed = _majority_given(fingerprinted, given)
    new_ids = _new_ids(fingerprinted[~fingerprinted["cluster_id"].isin(list(borrowed))], names, set(given.values()))
    rows = []
    for file, cluster_id, library_song, error in zip(clusters["file"], clusters["cluster_id"],
                                                     clusters["library_song"], clusters["error"]):
        if given.get(file):
            song, source = given[file], SongSource.MANIFEST.value
        elif error:
            song, source = "", ""
        elif cluster_id in borrowed:
            song, source = borrowed[cluster_id], SongSource.FINGERPRINT.value
        else:
            song, source = new_ids[cluster_id], SongSource.FINGERPRINT.value
        rows.append({"file": file, "song_id": song, "source": source, "cluster_id": cluster_id,
                     "library_song": library_song, "error": error})
    return SongIds(table=pd.DataFrame(rows, columns=RESOLVED_COLUMNS),
                   contradictions=find_contradictions(given, fingerprinted))


def _majority_given(clusters: pd.DataFrame, given: Mapping[str, str]) -> dict[str, str]:
    """Cluster -> the manifest id most of its clips carry (ties: the smallest id)."""
    labelled = clusters[clusters["file"].isin(list(given))]
    majority = {}
    for cluster_id, group in labelled.groupby("cluster_id"):
        counts = group["file"].map(given).value_counts()
        majority[cluster_id] = sorted(counts[counts == counts.max()].index)[0]
    return majority


def _new_ids(unlabelled: pd.DataFrame, names: Mapping[str, str], taken: set[str]) -> dict[str, str]:
    """Cluster -> new id: 'lib:<track>' for clusters identified in the library, else 'fp:<smallest name>';
    never one of ``taken`` (the given ids) nor another cluster's."""
    taken = set(taken)
    first_name = {cluster: min(str(names[f]) for f in group["file"])
                  for cluster, group in unlabelled.groupby("cluster_id")}
    new_ids = {}
    for cluster in sorted(first_name, key=lambda c: (first_name[c], c)):
        base = (f"lib:{cluster.removeprefix('lib:').replace('/', '__')}" if cluster.startswith("lib:")
                else f"fp:{first_name[cluster]}")
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}-{number}"
        taken.add(candidate)
        new_ids[cluster] = candidate
    return new_ids


# --------------------------------------------------------------------------- in a build


@dataclasses.dataclass(frozen=True)
class ClipSongs:
    """The outcome for the clips that were cut: their song ids and what the fingerprints said."""

    song_id: dict[str, str]  # clip -> song id (clips that have one)
    source: dict[str, SongSource]  # clip -> where its id came from
    errors: dict[str, str]  # clip without a given id whose audio could not be fingerprinted -> why
    contradictions: pd.DataFrame  # CONTRADICTION_COLUMNS, one row per clip
    links: tuple[AudioLink, ...] = ()  # every verified match between two clips' audio


def resolve_clip_songs(records: Mapping[str, StageRecord[FingerprintOutput]], given: Mapping[str, str | None],
                       build_dir: BuildDir, config: SongIdConfig, progress: bool = True,
                       audio: Mapping[str, Path] | None = None) -> ClipSongs:
    """``records``: the fingerprint record of each cut clip; ``given``: clip -> manifest song id or None;
    ``audio``: clip -> its audio file, read again only to identify a clip slowed down (``identify_slowdowns``)."""
    started = time.perf_counter()
    fingerprinted = [clip_id for clip_id, record in records.items() if record.ok]
    errors = {clip_id: record.error for clip_id, record in records.items() if not record.ok}
    index = _synced_index(build_dir, {clip_id: records[clip_id] for clip_id in fingerprinted}, config.fingerprint)
    library = None
    if config.library:
        library = load_library(config.library, build_dir.root / SONGS_DIR / "library", config.fingerprint,
                               progress=progress)
    clusters = cluster_index(index, fingerprinted, library, config.fingerprint, audio_of=audio)
    keys = list(records)
    table = assign_ids([PurePosixPath(k) for k in keys], keys, clusters.roots, clusters.songs, errors)
    resolved = assign_song_ids(table, given, names={k: k for k in keys})
    by_clip = resolved.table.set_index("file")

    song_id, source, failed = {}, {}, {}
    for clip_id, row in by_clip.iterrows():
        if row["song_id"]:
            song_id[clip_id], source[clip_id] = row["song_id"], SongSource(row["source"])
        else:
            failed[clip_id] = f"song_id is empty and the clip's audio cannot be fingerprinted: {row['error']}"
        if row["error"] and given.get(clip_id):
            log.warning("clip %s: song id %r kept but not checked against its audio: %s", clip_id, given[clip_id],
                        row["error"])
    links = tuple(AudioLink(edge.a, edge.b, edge.score, round(edge.offset_s, 3), round(edge.speed, 4))
                  for edge in clusters.edges)
    bridges = find_bridges(given, song_id, links, dict(zip(by_clip.index, by_clip["cluster_id"])))
    contradictions = pd.DataFrame([{
        "clip_id": c.file, "given_song_id": c.given_song_id, "fingerprint_song_id": c.fingerprint_song_id,
        "support": c.support, "own_support": c.own_support, "library_song": by_clip.loc[c.file, "library_song"],
        "cluster_song_ids": " ".join(c.cluster_song_ids),
    } for c in [*resolved.contradictions, *bridges]], columns=CONTRADICTION_COLUMNS)
    for row in contradictions.itertuples():
        if row.given_song_id:
            log.warning("clip %s: song id %r contradicted by its audio: it matches %d clip(s) with song id %r "
                        "(%d with %r in its fingerprint cluster); id kept, see %s", row.clip_id, row.given_song_id,
                        row.support, row.fingerprint_song_id, row.own_support, row.given_song_id, CONTRADICTIONS_CSV)
        else:
            log.warning("clip %s has no song id and its audio links it to clips of song ids %s (%d link(s)): it takes "
                        "%r; the split keeps them all on one side, see %s", row.clip_id, row.cluster_song_ids,
                        row.support, row.fingerprint_song_id, CONTRADICTIONS_CSV)
    write_csv(contradictions, build_dir.root / CONTRADICTIONS_CSV)
    from_fingerprint = sum(s is SongSource.FINGERPRINT for s in source.values())
    log.info("songs: %d clip(s) fingerprinted (%d failed), %d verified link(s), %d identified in the library; "
             "%d id(s) kept from the manifest, %d found by fingerprint, %d clip(s) left without id, "
             "%d contradiction(s) (%.1f s)", len(fingerprinted), len(errors), len(clusters.edges),
             len(clusters.songs), len(source) - from_fingerprint, from_fingerprint, len(failed), len(contradictions),
             time.perf_counter() - started)
    return ClipSongs(song_id=song_id, source=source, errors=failed, contradictions=contradictions, links=links)


def _synced_index(build_dir: BuildDir, records: Mapping[str, StageRecord[FingerprintOutput]],
                  config: SongsConfig) -> FingerprintIndex:
    """The build's clip index holding exactly ``records``' clips; only new or changed ones are added."""
    path = build_dir.root / SONGS_DIR / "index"
    try:
        index = FingerprintIndex(path, config)
    except ValueError as error:  # other fingerprint settings or algorithm: start over from the stored peaks
        log.info("songs: rebuilding the clip index (%s)", error)
        shutil.rmtree(path)
        index = FingerprintIndex(path, config)
    for gone in set(index.keys()) - set(records):
        index.remove(gone)
    added = 0
    for clip_id, record in records.items():
        if clip_id in index and index.meta(clip_id).get("input_hash") == record.input_hash:
            continue
        index.add(clip_id, Fingerprints.load(build_dir.absolute(record.output.path)),
                  meta={"input_hash": record.input_hash})
        added += 1
    if index.dirty or len(index) == 0:
        index.save()
    log.info("songs: clip index %s: %d clip(s), %d added in this run", path, len(index), added)
    return index
