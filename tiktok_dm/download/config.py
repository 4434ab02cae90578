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

    # YouTube's player challenges are solved by yt-dlp's ejs scripts (the yt-dlp-ejs package) in a JavaScript
    # runtime: "deno" (the deno package, installed with yt-dlp[deno]), "node", "bun" or "quickjs".
    js_runtime: str = "deno"
    # The runtime's executable; None: the deno package's binary for "deno", else the one on PATH.
    js_runtime_path: str | None = None

    # Cookies of a browser signed in to the site (YouTube's "Sign in to confirm you're not a bot", age gates):
    # a Netscape cookies.txt file, or a browser to read them from ("firefox", "chrome:Profile 1", as yt-dlp's
    # --cookies-from-browser). Read where they are, never copied into the build folder or a log. yt-dlp writes
    # refreshed cookies back into the file.
    cookies_file: str | None = None
    cookies_from_browser: str | None = None

    # Politeness towards the sites (yt-dlp's own `-t sleep` preset: 0.75 s between requests, 10-20 s before each
    # download). A host on this machine (127.0.0.1, localhost, ::1: the tests and the demo) is not slept for.
    sleep_requests_s: float = 0.75
    sleep_before_download_s: float = 10.0
    max_sleep_before_download_s: float = 20.0
    # At most this many downloads from one host at once, however many workers or cluster nodes there are.
    max_per_host: int = 2
    # An answer "too many requests" (HTTP 429, YouTube's "try again later") is retried this many times, waiting
    # rate_limit_backoff_s, then twice that, ... (at most rate_limit_max_wait_s; a Retry-After header wins).
    rate_limit_retries: int = 3
    rate_limit_backoff_s: float = 30.0
    rate_limit_max_wait_s: float = 600.0
