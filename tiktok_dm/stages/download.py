"""Download stage: one compilation video per URL through the yt-dlp Python API.

A failure says its kind (``tiktok_dm.download.failures``: unavailable, bot_check, age_restricted,
geo_blocked, rate_limited, network, extractor) with yt-dlp's words and the remedy. "Too many
requests" is retried with a growing wait; at most ``download.max_per_host`` downloads ask one host
at once on any executor (``concurrency_group``).

The done-list is our own result record keyed by a hash of the URL: yt-dlp's download archive
keys generic (plain HTTP) downloads by file name, so two compilations both called video.mp4
would collide and the second would be skipped silently.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from tiktok_dm.config import BuildConfig
from tiktok_dm.download.config import DownloadConfig
from tiktok_dm.download.failures import DownloadFailure, classify
from tiktok_dm.download.ytdlp import base_options, host_of
from tiktok_dm.download.ytdlp import version as ytdlp_version
from tiktok_dm.media import ffmpeg_binary, probe
from tiktok_dm.model.atomic import TMP_PREFIX
from tiktok_dm.model.build_dir import BuildDir, sha256_of
from tiktok_dm.model.names import url_key
from tiktok_dm.model.outputs import DownloadOutput
from tiktok_dm.model.status import ErrorKind, StageError
from tiktok_dm.stages.base import Stage

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DownloadItem:
    compilation_id: str
    url: str

    def identity(self) -> str:
        # The dataclass repr, as the records of earlier versions hashed it: an upgrade re-downloads nothing.
        return repr(self)


class DownloadStage(Stage[DownloadItem, DownloadOutput]):
    output_type = DownloadOutput

    config: DownloadConfig

    @classmethod
    def from_config(cls, config: BuildConfig, build_dir: BuildDir) -> "DownloadStage":
        return cls(config.download, build_dir)

    def key(self, item: DownloadItem) -> str:
        return url_key(item.url)

    def settings_identity(self) -> str:
        # Retries and timeouts do not change what is downloaded; the format does.
        return f"format={self.config.format}"

    def concurrency_group(self, item: DownloadItem) -> str | None:
        return host_of(item.url) or None

    @property
    def max_per_group(self) -> int:
        return self.config.max_per_host

    def run(self, item: DownloadItem) -> DownloadOutput:
        for attempt in range(self.config.rate_limit_retries + 1):
            failure, info, target = self._attempt(item)
            if failure is None:
                break
            if failure.kind is not ErrorKind.RATE_LIMITED or attempt == self.config.rate_limit_retries:
                note = f" (after {attempt} wait(s) for the rate limit)" if attempt else ""
                raise StageError(f"download of {item.url} failed: {failure.describe()}{note}", failure.kind)
            wait = self._rate_limit_wait(failure, attempt)
            log.warning("[%s] %s: rate limited (%s); waiting %.0f s before try %d of %d", item.compilation_id,
                        host_of(item.url), failure.message, wait, attempt + 2, self.config.rate_limit_retries + 1)
            time.sleep(wait)
        media = probe(target)
        if not media.has_video:
            raise StageError(f"{item.url} has no video stream (got {target.suffix} audio only)", ErrorKind.UNREADABLE)
        return DownloadOutput(
            compilation_id=item.compilation_id,
            url=item.url,
            path=self.build_dir.relative(target),
            sha256=sha256_of(target),
            bytes=target.stat().st_size,
            duration_s=media.duration_s,
            has_audio=media.has_audio,
            width=media.width,
            height=media.height,
            fps=media.fps,
            title=info.get("title"),
            extractor=info.get("extractor_key"),
            yt_dlp_version=ytdlp_version(),
        )

    def _attempt(self, item: DownloadItem) -> tuple[DownloadFailure | None, dict[str, Any], Path]:
        """One try: (None, yt-dlp's info, the file) or (why it failed, {}, where it would have gone)."""
        import yt_dlp  # heavy import, only where downloads happen

        key = self.key(item)
        scratch = self.build_dir.sources / f"{TMP_PREFIX}{key}"
        shutil.rmtree(scratch, ignore_errors=True)  # leftovers of a killed attempt
        scratch.mkdir(parents=True)
        try:
            with yt_dlp.YoutubeDL(self._options(scratch, item)) as ydl:
                info = ydl.extract_info(item.url, download=True)
            downloaded = _downloaded_file(info, scratch)
            target = self.build_dir.sources / f"{key}{downloaded.suffix}"
            os.replace(downloaded, target)
            return None, info, target
        except yt_dlp.utils.YoutubeDLError as error:
            return classify(error), {}, scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _rate_limit_wait(self, failure: DownloadFailure, attempt: int) -> float:
        wait = failure.retry_after_s if failure.retry_after_s is not None \
            else self.config.rate_limit_backoff_s * 2 ** attempt
        return min(wait, self.config.rate_limit_max_wait_s)

    def _options(self, scratch: Path, item: DownloadItem) -> dict[str, Any]:
        return {
            **base_options(self.config, item.compilation_id, item.url),
            "format": self.config.format,
            "outtmpl": str(scratch / "source.%(ext)s"),
            "merge_output_format": "mp4",
            # The merge of a video and an audio format: the ffmpeg every stage runs (no system ffmpeg needed).
            "ffmpeg_location": ffmpeg_binary(),
            "progress_hooks": [_ProgressHook(item.compilation_id)],
        }


def _downloaded_file(info: dict[str, Any], scratch: Path) -> Path:
    requested = info.get("requested_downloads") or []
    for entry in requested:
        path = Path(entry.get("filepath") or "")
        if path.is_file():
            return path
    files = [p for p in scratch.iterdir() if p.is_file() and not p.name.endswith((".part", ".ytdl"))]
    if len(files) != 1:
        raise StageError(f"yt-dlp reported success but left {len(files)} file(s) in {scratch.name}", ErrorKind.EXTRACTOR)
    return files[0]


class _ProgressHook:
    """Log download progress at each further 25 %, and the final size."""

    def __init__(self, compilation_id: str):
        self.compilation_id = compilation_id
        self.next_quarter = 1

    def __call__(self, status: dict[str, Any]) -> None:
        done = status.get("downloaded_bytes") or 0
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        if status.get("status") == "finished":
            log.info("[%s] downloaded %.1f MB", self.compilation_id, done / 1e6)
        elif status.get("status") == "downloading" and total and done / total >= self.next_quarter / 4:
            log.info("[%s] %d%% of %.1f MB", self.compilation_id, 100 * done // total, total / 1e6)
            self.next_quarter = int(4 * done / total) + 1
