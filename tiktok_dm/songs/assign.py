"""What ``build`` needs: a song id for every clip, keeping the ids the manifest gives.

Clips without an id get one from their fingerprint cluster. A cluster that holds clips with a given
id lends that id to its clips without one (else the same song would carry two ids and could land on
both sides of the split); a cluster with no given id keeps its fingerprint id, prefixed ``fp:`` so it
cannot collide with a manifest id. Clips whose fingerprint groups them with another given id are
reported, never silently relabelled.
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

RESOLVED_COLUMNS = ["file", "song_id", "source", "fingerprint_song_id", "error"]


@dataclasses.dataclass(frozen=True)
class SongIds:
    # One row per clip: song_id, and where it came from: 'manifest', 'cluster' (borrowed from a clip
    # of the same fingerprint cluster with a manifest id) or 'fingerprint' (the cluster's own id).
    table: pd.DataFrame
    contradictions: list[Contradiction]


def resolve_song_ids(clips: Mapping[str, str | None], library: str | os.PathLike | FingerprintIndex | None = None,
                     index_dir: str | os.PathLike | None = None, config: SongsConfig | None = None) -> SongIds:
    """``clips``: clip file (not folder) -> song id from the manifest (None or '' when it has none)."""
    caller_key = {str(Path(f)): f for f in clips}
    predicted = cluster_clips(list(clips), library=library, index_dir=index_dir, config=config)
    predicted["file"] = predicted["file"].map(caller_key)  # the caller's spelling of each path
    given = {f: s for f, s in clips.items() if s}
    borrowed = _majority_given(predicted, given)
    rows = []
    for file, cluster_id, error in zip(predicted["file"], predicted["song_id"], predicted["error"]):
        if given.get(file):
            song, source = given[file], "manifest"
        elif cluster_id in borrowed and not error:
            song, source = borrowed[cluster_id], "cluster"
        else:
            song, source = f"fp:{cluster_id}", "fingerprint"
        rows.append({"file": file, "song_id": song, "source": source, "fingerprint_song_id": cluster_id,
                     "error": error})
    return SongIds(table=pd.DataFrame(rows, columns=RESOLVED_COLUMNS),
                   contradictions=find_contradictions(given, predicted))


def _majority_given(predicted: pd.DataFrame, given: Mapping[str, str]) -> dict[str, str]:
    """Fingerprint cluster -> the manifest id most of its clips carry (ties: the smallest id)."""
    labelled = predicted[predicted["file"].isin(list(given)) & (predicted["error"] == "")]
    majority = {}
    for cluster_id, group in labelled.groupby("song_id"):
        counts = group["file"].map(given).value_counts()
        majority[cluster_id] = sorted(counts[counts == counts.max()].index)[0]
    return majority
