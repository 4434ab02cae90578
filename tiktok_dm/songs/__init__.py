"""Which clips share a song, from audio fingerprints that survive TikTok speed-ups (issue 5).

    cluster_clips(files, library=None, index_dir=None, config=None) -> DataFrame[file, cluster_id, library_song, error]
    identify(queries, library_index, config=None) -> DataFrame[file, song, score, speed, pitch_shift, offset_s, error]
    FingerprintIndex(path)                       persistent, incremental inverted index
    fingerprint_file(path, config) -> Fingerprints

A cluster id says which clips share a song; the song ids a build gives clips (keeping the manifest's,
borrowing them, reporting contradictions) are ``tiktok_dm.dataset.song_ids``. The command line is
``tiktok_dm.songs.cli.songs_group`` (``tiktok-dm songs cluster|identify``).
"""

from tiktok_dm.model.lazy import lazy_exports

__getattr__ = lazy_exports(__name__, {
    "cluster_clips": "cluster", "SongsConfig": "config", "fingerprint_file": "extract", "Fingerprints": "fingerprint",
    "FingerprintIndex": "index", "IndexMatch": "index", "identify": "library", "load_library": "library"})
__all__ = ["FingerprintIndex", "Fingerprints", "IndexMatch", "SongsConfig", "cluster_clips", "fingerprint_file",
           "identify", "load_library"]
