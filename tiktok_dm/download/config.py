"""Settings of the download stage and ``verify`` (yt-dlp)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class DownloadConfig:
    retries: int = 3
    socket_timeout_s: float = 30.0
    # Best video+audio up to 720p (skeletons and the 2-s segments need no more; a 4K VP9/AV1 source
    # costs 10x the download and decode), else the best there is; a single file with both streams as
    # the last resort. D2M needs the music, so audio is never optional. `?` keeps formats whose height
    # the site does not state (direct file links).
    format: str = "bv*[height<=?720]+ba/b[height<=?720]/bv*+ba/b"
    allow_file_urls: bool = False
