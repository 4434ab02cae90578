"""yt-dlp plumbing shared by the download stage and ``verify``: options, JS runtime, cookies, politeness, logging."""

from __future__ import annotations

import functools
import logging
import optparse
import random
import urllib.parse
from pathlib import Path
from typing import Any, Callable

from tiktok_dm.download.config import DownloadConfig

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
YOUTUBE_HOSTS = ("youtube.com", "youtu.be", "youtube-nocookie.com")


class DownloadSetupError(ValueError):
    """The download settings cannot work (no JS runtime for YouTube, a cookies file that is not there, ...)."""


def base_options(config: DownloadConfig, tag: str, url: str) -> dict[str, Any]:
    """Options every yt-dlp call of ours uses; ``tag`` prefixes its log lines (a compilation id)."""
    options: dict[str, Any] = {
        "retries": config.retries,
        "fragment_retries": config.retries,
        "extractor_retries": config.retries,
        "retry_sleep_functions": {kind: _backoff(config) for kind in ("http", "fragment", "extractor")},
        "socket_timeout": config.socket_timeout_s,
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "enable_file_urls": config.allow_file_urls,
        "js_runtimes": js_runtimes(config),
        "logger": YtDlpLogger(tag),
    }
    if config.cookies_file:
        options["cookiefile"] = config.cookies_file
    if config.cookies_from_browser:
        options["cookiesfrombrowser"] = browser_cookies(config.cookies_from_browser)
    if host_of(url) not in LOOPBACK_HOSTS:
        options["sleep_interval_requests"] = config.sleep_requests_s
        if config.sleep_before_download_s > 0:
            options["sleep_interval"] = config.sleep_before_download_s
            options["max_sleep_interval"] = max(config.sleep_before_download_s, config.max_sleep_before_download_s)
    return options


def host_of(url: str) -> str:
    """The host a URL asks (lower case; '' for file URLs)."""
    return (urllib.parse.urlsplit(url).hostname or "").lower()


def is_youtube(url: str) -> bool:
    host = host_of(url)
    return any(host == name or host.endswith("." + name) for name in YOUTUBE_HOSTS)


def js_runtimes(config: DownloadConfig) -> dict[str, dict[str, str]]:
    """yt-dlp's ``js_runtimes``: the configured runtime, with its executable named explicitly where we know it."""
    path = config.js_runtime_path or (deno_binary() if config.js_runtime == "deno" else None)
    return {config.js_runtime: {"path": path} if path else {}}


def deno_binary() -> str | None:
    """The deno executable of the ``deno`` package (installed with yt-dlp[deno]), or None without it."""
    try:
        import deno
    except ImportError:
        return None
    try:
        return deno.find_deno_bin()
    except FileNotFoundError:
        return None


def js_runtime_version(config: DownloadConfig) -> str | None:
    """'deno 2.9.8' as yt-dlp sees the configured runtime, or None when yt-dlp cannot run it."""
    from yt_dlp.utils._jsruntime import BunJsRuntime, DenoJsRuntime, NodeJsRuntime, QuickJsRuntime

    runtimes = {"deno": DenoJsRuntime, "node": NodeJsRuntime, "bun": BunJsRuntime, "quickjs": QuickJsRuntime}
    if config.js_runtime not in runtimes:
        raise DownloadSetupError(f"download.js_runtime {config.js_runtime!r} is not one yt-dlp runs "
                                 f"({', '.join(runtimes)})")
    info = runtimes[config.js_runtime](js_runtimes(config)[config.js_runtime].get("path")).info
    return f"{info.name} {info.version}" if info is not None and info.supported else None


@functools.lru_cache(maxsize=8)
def browser_cookies(spec: str) -> tuple:
    """yt-dlp's ``cookiesfrombrowser`` tuple for a --cookies-from-browser spec, parsed by yt-dlp itself."""
    import yt_dlp

    try:
        return yt_dlp.parse_options(["--ignore-config", "--cookies-from-browser", spec]).ydl_opts["cookiesfrombrowser"]
    except (ValueError, optparse.OptParseError) as error:  # yt-dlp's option parser raises the latter
        reason = str(error).strip().splitlines()[-1].split("error: ", 1)[-1]
        raise DownloadSetupError(f"--cookies-from-browser {spec!r}: {reason}") from error


def check_setup(config: DownloadConfig, urls: list[str]) -> None:
    """Refuse settings that cannot work before any download: cookies that are not there, a browser yt-dlp does not
    know, YouTube URLs without a JS runtime to solve its challenges."""
    if config.cookies_file and not Path(config.cookies_file).is_file():
        raise DownloadSetupError(f"--cookies {config.cookies_file}: no such file (export the cookies of a signed-in "
                                 "browser as a Netscape cookies.txt)")
    if config.cookies_from_browser:
        browser_cookies(config.cookies_from_browser)
    if config.max_per_host < 1:
        raise DownloadSetupError(f"download.max_per_host must be at least 1, not {config.max_per_host}")
    youtube = [url for url in urls if is_youtube(url)]
    if youtube and js_runtime_version(config) is None:
        raise DownloadSetupError(
            f"{len(youtube)} YouTube URL(s) (first {youtube[0]}) but yt-dlp finds no usable JavaScript runtime "
            f"{config.js_runtime!r}{' at ' + config.js_runtime_path if config.js_runtime_path else ''}: YouTube's "
            "player challenges need one; install it with pip install 'yt-dlp[default,deno]' or set "
            "download.js_runtime / download.js_runtime_path")


def version() -> str:
    import yt_dlp

    return yt_dlp.version.__version__


def _backoff(config: DownloadConfig) -> Callable[[int], float]:
    """yt-dlp's retry sleep: 1 s, 2 s, 4 s, ... with jitter, at most the rate-limit cap."""
    return functools.partial(_backoff_seconds, cap=config.rate_limit_max_wait_s)


def _backoff_seconds(attempt: int, cap: float) -> float:
    return min(cap, 2.0 ** attempt) * random.uniform(0.8, 1.2)


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
