"""``verify``: which source URLs of a manifest still answer, without downloading the videos.

Each URL is asked for its metadata only (yt-dlp ``download=False``) with the build's download settings
(JS runtime, cookies, politeness); the answer goes into a link-rot table, one row per URL: status
``ok`` or ``failed`` with the same error kinds as a build's failures (unavailable, bot_check,
age_restricted, geo_blocked, rate_limited, network, extractor), yt-dlp's words, the remedy, and what
the source says about itself (title, duration, extractor). URLs are checked in a small thread pool
because the work is waiting on the network; at most ``download.max_per_host`` ask one host at once.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from tiktok_dm.config import DownloadConfig
from tiktok_dm.download.failures import classify
from tiktok_dm.download.ytdlp import base_options, check_setup, host_of
from tiktok_dm.model.manifest import Manifest
from tiktok_dm.model.status import Status
from tiktok_dm.model.tables import write_csv


@dataclasses.dataclass(frozen=True)
class LinkCheck:
    compilation_id: str
    url: str
    status: str  # Status.OK or Status.FAILED
    error_kind: str
    error: str
    remedy: str
    title: str | None
    duration_s: float | None
    extractor: str | None
    checked_at: str


def check_url(compilation_id: str, url: str, config: DownloadConfig) -> LinkCheck:
    import yt_dlp

    checked_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    options = {**base_options(config, compilation_id, url), "skip_download": True}
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info: dict[str, Any] = ydl.extract_info(url, download=False) or {}
    except yt_dlp.utils.YoutubeDLError as error:
        failure = classify(error)
        return LinkCheck(compilation_id, url, Status.FAILED.value, failure.kind.value, failure.message, failure.remedy,
                         None, None, None, checked_at)
    return LinkCheck(compilation_id, url, Status.OK.value, "", "", "", info.get("title"), info.get("duration"),
                     info.get("extractor_key"), checked_at)


def verify_manifest(manifest_path: str | Path, config: DownloadConfig, workers: int = 4,
                    progress: bool = True) -> pd.DataFrame:
    manifest = Manifest.from_csv(manifest_path, allow_file_urls=config.allow_file_urls)
    compilations = manifest.compilations
    check_setup(config, [c.url for c in compilations])
    hosts = {host_of(c.url): threading.Semaphore(config.max_per_host) for c in compilations}

    def check(compilation_id: str, url: str) -> LinkCheck:
        with hosts[host_of(url)]:
            return check_url(compilation_id, url, config)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(check, c.compilation_id, c.url) for c in compilations]
        for _ in tqdm(concurrent.futures.as_completed(futures), total=len(futures), desc="verify", unit="url",
                      disable=not progress):
            pass
    return pd.DataFrame([dataclasses.asdict(f.result()) for f in futures])


def write_link_table(table: pd.DataFrame, path: str | Path) -> None:
    write_csv(table, path)
