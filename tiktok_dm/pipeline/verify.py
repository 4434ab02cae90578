"""``verify``: which source URLs of a manifest still answer, without downloading the videos.

Each URL is asked for its metadata only (yt-dlp ``download=False``); the answer goes into a
link-rot table, one row per URL: status ``alive`` or ``dead``, the error text, and what the
source says about itself (title, duration, extractor). URLs are checked in a small thread pool
because the work is waiting on the network.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from tiktok_dm.config import DownloadConfig
from tiktok_dm.download.ytdlp import base_options, clean_error
from tiktok_dm.model.manifest import Manifest
from tiktok_dm.model.tables import write_csv

ALIVE = "alive"
DEAD = "dead"


@dataclasses.dataclass(frozen=True)
class LinkCheck:
    compilation_id: str
    url: str
    status: str
    error: str
    title: str | None
    duration_s: float | None
    extractor: str | None
    checked_at: str


def check_url(compilation_id: str, url: str, config: DownloadConfig) -> LinkCheck:
    import yt_dlp

    checked_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    options = {**base_options(config, compilation_id), "skip_download": True}
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info: dict[str, Any] = ydl.extract_info(url, download=False) or {}
    except yt_dlp.utils.YoutubeDLError as error:
        return LinkCheck(compilation_id, url, DEAD, clean_error(str(error)), None, None, None, checked_at)
    return LinkCheck(compilation_id, url, ALIVE, "", info.get("title"), info.get("duration"),
                     info.get("extractor_key"), checked_at)


def verify_manifest(manifest_path: str | Path, config: DownloadConfig, workers: int = 4,
                    progress: bool = True) -> pd.DataFrame:
    manifest = Manifest.from_csv(manifest_path, allow_file_urls=config.allow_file_urls)
    compilations = manifest.compilations
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(check_url, c.compilation_id, c.url, config) for c in compilations]
        for _ in tqdm(concurrent.futures.as_completed(futures), total=len(futures), desc="verify", unit="url",
                      disable=not progress):
            pass
    return pd.DataFrame([dataclasses.asdict(f.result()) for f in futures])


def write_link_table(table: pd.DataFrame, path: str | Path) -> None:
    write_csv(table, path)
