"""Song ids from audio fingerprints that survive TikTok speed-ups (issue 5).

    cluster_clips(files, library=None, index_dir=None, config=None) -> DataFrame[file, song_id, library_song, error]
    identify(queries, library_index, config=None) -> DataFrame[file, song, score, speed, pitch_shift, offset_s, error]
    find_contradictions(assignments, predicted) -> list[Contradiction]
    resolve_song_ids({file: given id or None}, library=None, index_dir=None) -> SongIds
    assign_song_ids(cluster table, {file: given id or None}) -> SongIds   (build: tiktok_dm.stages.songs)
    FingerprintIndex(path)                       persistent, incremental inverted index
    fingerprint_file(path, config) -> Fingerprints

The command line is ``tiktok_dm.songs.cli.songs_group`` (``tiktok-dm songs cluster|identify``).
"""

from tiktok_dm.songs.assign import SongIds, assign_song_ids, resolve_song_ids
from tiktok_dm.songs.cluster import Contradiction, cluster_clips, find_contradictions
from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.extract import fingerprint_file
from tiktok_dm.songs.fingerprint import Fingerprints
from tiktok_dm.songs.index import FingerprintIndex, IndexMatch
from tiktok_dm.songs.library import identify, load_library

__all__ = ["Contradiction", "FingerprintIndex", "Fingerprints", "IndexMatch", "SongIds", "SongsConfig",
           "assign_song_ids", "cluster_clips", "find_contradictions", "fingerprint_file", "identify", "load_library",
           "resolve_song_ids"]
