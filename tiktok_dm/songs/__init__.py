"""Which clips share a song, from audio fingerprints that survive TikTok speed-ups (issue 5).

    cluster_clips(files, library=None, index_dir=None, config=None) -> DataFrame[file, cluster_id, library_song, error]
    identify(queries, library_index, config=None) -> DataFrame[file, song, score, speed, pitch_shift, offset_s, error]
    FingerprintIndex(path)                       persistent, incremental inverted index
    fingerprint_file(path, config) -> Fingerprints

A cluster id says which clips share a song; the song ids a build gives clips (keeping the manifest's,
borrowing them, reporting contradictions) are ``tiktok_dm.dataset.song_ids``. The command line is
``tiktok_dm.songs.cli.songs_group`` (``tiktok-dm songs cluster|identify``).
"""

from tiktok_dm.songs.cluster import cluster_clips
from tiktok_dm.songs.config import SongsConfig
from tiktok_dm.songs.extract import fingerprint_file
from tiktok_dm.songs.fingerprint import Fingerprints
from tiktok_dm.songs.index import FingerprintIndex, IndexMatch
from tiktok_dm.songs.library import identify, load_library

__all__ = ["FingerprintIndex", "Fingerprints", "IndexMatch", "SongsConfig", "cluster_clips", "fingerprint_file",
           "identify", "load_library"]
