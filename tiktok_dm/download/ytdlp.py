"""yt-dlp plumbing shared by the download stage and ``verify``: options, logging, error text."""

from __future__ import annotations

import logging
from typing import Any

from tiktok_dm.download.config import DownloadConfig

log = logging.getLogger(__name__)


def base_options(config: DownloadConfig, tag: str) -> dict[str, Any]:
    """Options every yt-dlp call of ours uses; ``tag`` prefixes its log lines (a compilation id)."""
    return {
        "retries": config.retries,
        "fragment_retries": config.retries,
        "extractor_retries": config.retries,
        "socket_timeout": config.socket_timeout_s,
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "enable_file_urls": config.allow_file_urls,
        "logger": YtDlpLogger(tag),
    }


def clean_error(message: str) -> str:
    return message.replace("ERROR: ", "").strip()


def version() -> str:
    import yt_dlp

    return yt_dlp.version.__version__


class YtDlpLogger:
    """Route yt-dlp's messages into logging instead of stdout (they would garble progress bars)."""

    def __init__(self, tag: str):
        self.prefix = f"[{tag}] "

    def debug(self, message: str) -> None:
        log.debug(self.prefix + message)

    def info(self, message: str) -> None:
        log.debug(self.prefix + message)

    def warning(self, message: str) -> None:
        log.warning(self.prefix + message)

    def error(self, message: str) -> None:
        log.debug(self.prefix + message)  # surfaces as the exception text in the failures table
