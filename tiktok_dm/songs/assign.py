"""What ``build`` needs: a song id for every clip, keeping the ids the manifest gives.

Clips without an id get one from their fingerprint cluster. A cluster that holds clips with a given
id lends that id to its clips without one (else the same song would carry two ids and could land on
both sides of the split). A cluster with no given id gets a new id: ``lib:<track>`` when it was
identified as a reference track of the library, else ``fp:<name>`` after the smallest name (clip id,
file stem) among its clips, so the id stays the same on every re-run and does not depend on the order
of the manifest. A new id never equals a given id (a suffix ``-2``, ``-3``, ... is added if it would).
Clips whose fingerprint groups them with clips of another given id are reported, never silently
relabelled. A clip without a given id whose audio could not be fingerprinted gets no id (its error
says why).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Mapping

import pandas as pd

from tiktok_dm.songs.cluster import Contradiction, cluster_clips, find_contradictions
from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.index import FingerprintIndex

RESOLVED_COLUMNS = ["file", "song_id", "source", "fingerprint_song_id", "library_song", "error"]
MANIFEST, FINGERPRINT = "manifest", "fingerprint"


@dataclasses.dataclass(frozen=True)
class SongIds:
    # One row per clip: song_id ('' when it has none) and where it came from (source): 'manifest'
    # (given), 'fingerprint' (borrowed from clips of its fingerprint cluster that carry a manifest id,
    # or a new id of the cluster); fingerprint_song_id is the cluster, library_song the reference track
    # the clip was identified as, error why it could not be fingerprinted.
    table: pd.DataFrame
    contradictions: list[Contradiction]


def resolve_song_ids(clips: Mapping[str, str | None], library: str | os.PathLike | FingerprintIndex | None = None,
                     index_dir: str | os.PathLike | None = None, config: SongsConfig | None = None) -> SongIds:
    """``clips``: clip file (not folder) -> song id from the manifest (None or '' when it has none)."""
    caller_key = {str(Path(f)): f for f in clips}
    predicted = cluster_clips(list(clips), library=library, index_dir=index_dir, config=config)
    predicted["file"] = predicted["file"].map(caller_key)  # the caller's spelling of each path
    return assign_song_ids(predicted, clips)


def assign_song_ids(predicted: pd.DataFrame, given: Mapping[str, str | None],
                    names: Mapping[str, str] | None = None) -> SongIds:
    """Song ids from a ``cluster_clips``-like table (file, song_id = cluster, library_song, error).

    ``given``: file -> manifest id (None/'' when none). ``names``: file -> the name new cluster ids are
    made from (default: the file's stem).
    """
    given = {f: s for f, s in given.items() if s}
    names = dict(names) if names is not None else {f: Path(f).stem for f in predicted["file"]}
    fingerprinted = predicted[predicted["error"] == ""]
    borrowed = _majority_given(fingerprinted, given)
    new_ids = _new_ids(fingerprinted[~fingerprinted["song_id"].isin(list(borrowed))], names, set(given.values()))
    rows = []
    for file, cluster_id, library_song, error in zip(predicted["file"], predicted["song_id"],
                                                     predicted["library_song"], predicted["error"]):
        if given.get(file):
            song, source = given[file], MANIFEST
        elif error:
            song, source = "", ""
        elif cluster_id in borrowed:
            song, source = borrowed[cluster_id], FINGERPRINT
        else:
            song, source = new_ids[cluster_id], FINGERPRINT
        rows.append({"file": file, "song_id": song, "source": source, "fingerprint_song_id": cluster_id,
                     "library_song": library_song, "error": error})
    return SongIds(table=pd.DataFrame(rows, columns=RESOLVED_COLUMNS),
                   contradictions=find_contradictions(given, fingerprinted))


def _majority_given(predicted: pd.DataFrame, given: Mapping[str, str]) -> dict[str, str]:
    """Fingerprint cluster -> the manifest id most of its clips carry (ties: the smallest id)."""
    labelled = predicted[predicted["file"].isin(list(given))]
    majority = {}
    for cluster_id, group in labelled.groupby("song_id"):
        counts = group["file"].map(given).value_counts()
        majority[cluster_id] = sorted(counts[counts == counts.max()].index)[0]
    return majority


def _new_ids(unlabelled: pd.DataFrame, names: Mapping[str, str], taken: set[str]) -> dict[str, str]:
    """Cluster -> new id: 'lib:<track>' for clusters identified in the library, else 'fp:<smallest name>';
    never one of ``taken`` (the given ids) nor another cluster's."""
    taken = set(taken)
    first_name = {cluster: min(str(names[f]) for f in group["file"])
                  for cluster, group in unlabelled.groupby("song_id")}
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
