"""Group clips by song: verified clip-to-clip matches, optionally joined through reference tracks.

The graph: one node per clip, one edge per pair of clips whose fingerprints match (verified score,
the smaller of the two directions). Components are grown edge by edge, strongest first, with
safeguards, because one false edge would leak a song across the split:

* an edge scoring below ``strong_score`` may attach a single clip to a cluster or pair two single
  clips, but never join two clusters of two or more clips;
* two clusters identified as different library songs are never joined.

With a library, every clip identified as a library song starts in that song's cluster, so clips from
different parts of a song (which share no audio) meet through the reference track.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.extract import collect_media
from tiktok_dm.songs.index import FingerprintIndex
from tiktok_dm.forked import map_shared
from tiktok_dm.songs.library import identify_all, load_library, update_index
from tiktok_dm.songs.match import check_peaks, inverse, passes

log = logging.getLogger(__name__)

CLUSTER_COLUMNS = ["file", "cluster_id", "library_song", "error"]


@dataclasses.dataclass(frozen=True)
class Edge:
    """A verified match between the audio of clips ``a`` and ``b`` (``a`` < ``b``), at the alignment of its best
    score."""

    a: str
    b: str
    score: int
    # Where b's audio starts in a's (s; negative: a starts that far into b) and how much faster b plays.
    offset_s: float = 0.0
    speed: float = 1.0


class _Components:
    """Union-find over clip keys, tracking size and the library song of each component."""

    def __init__(self, keys: Iterable[str]):
        self.parent = {k: k for k in keys}
        self.size = {k: 1 for k in self.parent}
        self.song: dict[str, str] = {}

    def find(self, key: str) -> str:
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        if rb in self.song:
            self.song.setdefault(ra, self.song.pop(rb))


def link(keys: list[str], edges: list[Edge], songs: Mapping[str, str], config: SongsConfig) -> dict[str, str]:
    """Root key of each clip after growing components with the safeguards described above."""
    components = _Components(keys)
    by_song: dict[str, str] = {}
    for key in keys:
        song = songs.get(key)
        if not song:
            continue
        if song in by_song:
            components.union(by_song[song], key)
        else:
            by_song[song] = key
            components.song[key] = song
    refused = 0
    for edge in sorted(edges, key=lambda e: (-e.score, e.a, e.b)):
        ra, rb = components.find(edge.a), components.find(edge.b)
        if ra == rb:
            continue
        song_a, song_b = components.song.get(ra), components.song.get(rb)
        if song_a and song_b and song_a != song_b:
            refused += 1
            continue
        if edge.score < config.strong_score and min(components.size[ra], components.size[rb]) >= 2:
            refused += 1
            continue
        components.union(ra, rb)
    if refused:
        log.info("%d clip link(s) left unused: weak links between clusters, or clusters of two library songs",
                 refused)
    return {key: components.find(key) for key in keys}


def match_edges(index: FingerprintIndex, keys: list[str], config: SongsConfig) -> list[Edge]:
    """Verified clip-to-clip matches among ``keys``.

    Each clip queries the index; a match A->B is then checked from B's side with the same alignment
    (B's peaks mapped onto A's), and the pair counts only if both directions pass; its score is the
    weaker direction's (the best over both queries). Clips of the index not in ``keys`` are ignored.
    Queries run in ``config.workers`` forked processes that share the index.
    """
    index.prepare()
    best: dict[tuple[str, str], Edge] = {}
    for found in map_shared(_edges_of, (index, frozenset(keys), config), keys, config.workers):
        for pair, edge in found.items():
            if pair not in best or edge.score > best[pair].score:
                best[pair] = edge
    return [best[pair] for pair in sorted(best)]


def _edges_of(shared: tuple[FingerprintIndex, frozenset, SongsConfig], key: str) -> dict[tuple[str, str], Edge]:
    """The verified matches of one clip's query, by pair."""
    index, wanted, config = shared
    best: dict[tuple[str, str], Edge] = {}
    fingerprints = index.fingerprints(key)
    for match in index.query(fingerprints, min_score=config.link_score, exclude=key, config=config):
        if match.key not in wanted:
            continue
        score = match.score
        if config.mutual_links:
            back = check_peaks(inverse(match.alignment()), index.fingerprints(match.key).peaks,
                               fingerprints.peaks, config)
            if not passes(back, config.link_score, config.min_peak_ratio, config.min_significance):
                continue
            score = min(score, back.peaks_matched)
        pair = (min(key, match.key), max(key, match.key))
        if pair not in best or score > best[pair].score:
            best[pair] = _edge(key, match.key, score, match.offset_s, match.speed)
    return best


def _edge(query: str, stored: str, score: int, offset_s: float, speed: float) -> Edge:
    """The edge of a match of ``query``, which starts at ``offset_s`` in ``stored`` playing ``speed`` times as fast,
    told from its first clip's side."""
    if query > stored:
        return Edge(stored, query, score, offset_s, speed)
    return Edge(query, stored, score, -offset_s / speed, 1.0 / speed)


def cluster_clips(files: Iterable[str | os.PathLike], library: str | os.PathLike | FingerprintIndex | None = None,
                  index_dir: str | os.PathLike | None = None, config: SongsConfig | None = None) -> pd.DataFrame:
    """Group clips that share a song: one row per input file, in input order, with its cluster id.

    ``files``: audio or video files, or folders (searched recursively for media). ``library``: a
    folder of full reference tracks (or a library index). ``index_dir``: where fingerprints are kept
    between runs (clips in ``index_dir/clips``, library tracks in ``index_dir/library``); only new or
    changed files are fingerprinted again. Without it everything lives in memory.

    Columns: file; cluster_id ('lib:<track>' for clips identified as a library track, else
    'cluster-NNNN'; a clip that matches nothing gets a cluster of its own, and so does a file that
    failed); library_song; error (why a file could not be fingerprinted, else ''). A cluster id says
    which clips share a song; which song id a clip gets is ``tiktok_dm.dataset.song_ids``.
    """
    config = config or SongsConfig()
    paths = collect_media(files)
    keys = [str(p.resolve()) for p in paths]
    index = FingerprintIndex(Path(index_dir) / "clips" if index_dir is not None else None, config)
    errors = update_index(index, dict(zip(keys, paths)), config)
    good = [k for k in keys if k not in errors]
    library_index = None
    if library is not None:
        library_index = load_library(library, Path(index_dir) / "library" if index_dir is not None else None, config)
    clusters = cluster_index(index, good, library_index, config, audio_of=dict(zip(keys, paths)))
    log.info("%d clip(s): %d fingerprinted, %d failed, %d verified link(s), %d identified in the library",
             len(keys), len(good), len(errors), len(clusters.edges), len(clusters.songs))
    return assign_ids(paths, keys, clusters.roots, clusters.songs, errors)


@dataclasses.dataclass(frozen=True)
class Clusters:
    roots: dict[str, str]  # key -> root key of its cluster
    songs: dict[str, str]  # key -> library song it was identified as (identified keys only)
    edges: list[Edge]  # the verified clip-to-clip matches


def cluster_index(index: FingerprintIndex, keys: list[str], library: FingerprintIndex | None,
                  config: SongsConfig, audio_of: Mapping[str, str | os.PathLike] | None = None) -> Clusters:
    """Cluster the recordings ``keys`` of ``index`` (fingerprints already stored), optionally through
    the reference tracks of ``library``; ``audio_of``: each key's audio file, for identifying a clip again slowed
    down (``identify_slowdowns``) when its fingerprints name no library song."""
    edges = match_edges(index, keys, config)
    songs: dict[str, str] = {}
    if library is not None:
        audio_of = audio_of or {}
        queries = [(index.fingerprints(key), audio_of.get(key)) for key in keys]
        for key, match in zip(keys, identify_all(queries, library, config)):
            if match is not None:
                songs[key] = match.key
    return Clusters(roots=link(keys, edges, songs, config), songs=songs, edges=edges)


def assign_ids(paths: list[Path], keys: list[str], roots: dict[str, str], songs: dict[str, str],
               errors: dict[str, str]) -> pd.DataFrame:
    """Cluster ids: 'lib:<track>' for components holding an identified clip, else 'cluster-NNNN' in input
    order."""
    root_song = {roots[k]: song for k, song in songs.items()}
    names: dict[str, str] = {}
    rows = []
    counter = 0
    for path, key in zip(paths, keys):
        root = roots.get(key, key)  # a failed file is its own root
        if root not in names:
            if root in root_song:
                names[root] = f"lib:{root_song[root]}"
            else:
                counter += 1
                names[root] = f"cluster-{counter:04d}"
        rows.append({"file": str(path), "cluster_id": names[root], "library_song": songs.get(key, ""),
                     "error": errors.get(key, "")})
    return pd.DataFrame(rows, columns=CLUSTER_COLUMNS)
