"""Why a download failed, in one word a program can filter on, with what to do about it.

yt-dlp reports every failure as a ``DownloadError`` whose text starts ``ERROR: [extractor] id: ...``;
what went wrong is in the exception it wraps (``exc_info``) and that one's ``cause``: a
``GeoRestrictedError``, an ``HTTPError`` with its status, a ``TransportError`` for a host that never
answered, or an ``ExtractorError`` whose text is the site's own reason. YouTube's reasons are
matched as the YouTube extractor words them (``yt_dlp/extractor/youtube/_video.py`` and ``_base.py``
of yt-dlp 2026.10: the playability status's reason plus the login hint, the age-gate reasons of
``_is_agegated``, the rate-limit text "This content isn't available, try again later").

The kinds are ``ErrorKind`` values, so clips.csv, failures.csv, ``status`` and ``verify`` all say the
same word; the message keeps yt-dlp's words and adds the remedy.
"""

from __future__ import annotations

import dataclasses
import email.utils
import re
import time
from typing import Iterator

from tiktok_dm.model.status import ErrorKind

# Matched lower-cased against yt-dlp's message. YouTube writes "you’re" with a typographic apostrophe.
_BOT_CHECK = ("not a bot", "captcha", "confirm you are human", "unusual traffic")
_AGE = ("confirm your age", "age-restricted", "age restricted", "inappropriate for some users",
        "age_verification_required", "age_check_required")
_GEO = ("not made this video available in your country", "not available in your country",
        "geo restriction", "geo-restricted", "geo restricted", "blocked it in your country",
        "not available from your location")
_RATE = ("too many requests", "try again later", "rate-limited", "rate limited", "http error 429")
_UNAVAILABLE = ("video unavailable", "private video", "this video is private", "has been removed",
                "no longer available", "account associated with this video has been terminated",
                "this video does not exist", "unsupported url", "http error 404", "http error 410")
_NETWORK = ("connection refused", "timed out", "name or service not known", "temporary failure in name resolution",
            "nodename nor servname", "connection reset", "network is unreachable", "no route to host",
            "remote end closed connection", "connection aborted", "eof occurred")

REMEDIES = {
    ErrorKind.UNAVAILABLE: "the video is removed or private, or the URL leads to no video: drop the row (a "
                           "takedown is honoured on the next build) or give another copy's URL; `tiktok-dm verify` "
                           "lists every such URL without downloading",
    ErrorKind.BOT_CHECK: "the site wants proof this is not a bot: pass --cookies FILE (Netscape format, exported from "
                         "a browser signed in to the site) or --cookies-from-browser BROWSER, keep the polite "
                         "defaults (download.sleep_requests_s, download.sleep_before_download_s, "
                         "download.max_per_host), and run again: finished downloads are kept",
    ErrorKind.AGE_RESTRICTED: "only a signed-in viewer of age may see it: pass --cookies FILE or "
                              "--cookies-from-browser BROWSER of such an account, then run again",
    ErrorKind.GEO_BLOCKED: "the uploader does not show it in this machine's country: run the download from a country "
                           "it is shown in, or drop the row",
    ErrorKind.RATE_LIMITED: "the host limits how often it is asked (YouTube for up to an hour): wait, then run again "
                            "(finished downloads are kept); lower download.max_per_host or raise the sleeps if it "
                            "comes back",
    ErrorKind.NETWORK: "the host could not be reached or broke off: check the network, DNS and proxy, then run again "
                       "(finished downloads are kept)",
    ErrorKind.EXTRACTOR: "yt-dlp could not read the page (a JavaScript challenge it could not solve, a site change, "
                         "no format that fits download.format): update yt-dlp (pip install -U 'yt-dlp[default,deno]'), "
                         "check that `yt-dlp --verbose` lists a JS runtime and yt_dlp_ejs, and run again",
}


@dataclasses.dataclass(frozen=True)
class DownloadFailure:
    kind: ErrorKind
    message: str  # yt-dlp's own words, without its "ERROR: " prefix
    retry_after_s: float | None = None  # what a 429 answer's Retry-After header asked for

    @property
    def remedy(self) -> str:
        return REMEDIES[self.kind]

    def describe(self) -> str:
        return f"{self.kind.value}: {self.message} (what to do: {self.remedy})"


def classify(error: BaseException) -> DownloadFailure:
    """The kind of a yt-dlp failure, from the exceptions it wraps and its words."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import GeoRestrictedError, UnsupportedError

    chain = list(_chain(error))
    message = clean_error(str(error))
    text = " ".join(str(e) for e in chain).lower()
    http = next((e for e in chain if isinstance(e, HTTPError)), None)
    status = http.status if http is not None else None
    if any(isinstance(e, GeoRestrictedError) for e in chain) or _has(text, _GEO):
        kind = ErrorKind.GEO_BLOCKED
    elif _has(text, _BOT_CHECK):
        kind = ErrorKind.BOT_CHECK
    elif _has(text, _AGE):
        kind = ErrorKind.AGE_RESTRICTED
    elif status == 429 or _has(text, _RATE):
        return DownloadFailure(ErrorKind.RATE_LIMITED, message, _retry_after(http))
    elif status in (401, 403, 404, 410) or any(isinstance(e, UnsupportedError) for e in chain) \
            or _has(text, _UNAVAILABLE):
        kind = ErrorKind.UNAVAILABLE
    elif (status is not None and status >= 500) or _has(text, _NETWORK) \
            or (http is None and any(isinstance(e, TransportError) for e in chain)):
        kind = ErrorKind.NETWORK
    else:
        kind = ErrorKind.EXTRACTOR
    return DownloadFailure(kind, message)


def clean_error(message: str) -> str:
    return message.replace("ERROR: ", "").strip()


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what yt-dlp's DownloadError wraps (exc_info) and each one's cause, once each."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        if isinstance(exc_info, tuple) and len(exc_info) > 1 and isinstance(exc_info[1], BaseException):
            todo.append(exc_info[1])
        for linked in (getattr(current, "cause", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                todo.append(linked)


def _has(text: str, needles: tuple[str, ...]) -> bool:
    text = text.replace("\u2019", "'")
    return any(needle in text for needle in needles)


def _retry_after(http) -> float | None:
    """Seconds a Retry-After header asks for (a number or an HTTP date), else None."""
    if http is None or http.response is None:
        return None
    value = (http.response.headers.get("Retry-After") or "").strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
