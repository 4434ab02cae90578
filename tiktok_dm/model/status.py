"""One status vocabulary for everything a build tracks: stage records, clips, QA rows.

``Status`` says what happened to an item; ``ErrorKind`` says why it is not ok, in words a program
can filter on (the error text says it in words a person reads). A crash is told from a data
problem by its status, never by the wording of its message.
"""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    OK = "ok"
    # The item's data cannot be made into what the stage makes (a removed video, no audio, nobody in frame).
    FAILED = "failed"
    # Not attempted, on purpose (marked unusable by an annotator, no song id to place it by, ...).
    SKIPPED = "skipped"
    # The code broke, not the data: an unexpected exception, or a worker process that died.
    CRASHED = "crashed"


class ErrorKind(str, enum.Enum):
    # failed: the data
    BAD_INPUT = "bad_input"  # the item's data is unusable in a way no finer kind below names
    # the source could not be fetched (tiktok_dm.download.failures says which from yt-dlp's error, with the remedy)
    UNAVAILABLE = "unavailable"  # removed, private, or no video at the URL (HTTP 404/410, "Video unavailable")
    BOT_CHECK = "bot_check"  # the site wants proof this is not a bot ("Sign in to confirm you're not a bot")
    AGE_RESTRICTED = "age_restricted"  # only for signed-in viewers of age ("Sign in to confirm your age")
    GEO_BLOCKED = "geo_blocked"  # not available from this machine's country
    RATE_LIMITED = "rate_limited"  # too many requests (HTTP 429, YouTube's "try again later"), after backing off
    NETWORK = "network"  # the host could not be reached or broke off (refused, timed out, DNS, HTTP 5xx)
    EXTRACTOR = "extractor"  # yt-dlp could not read the page (a JavaScript challenge, a site change, no format)
    UNREADABLE = "unreadable"  # a file is not readable media: corrupt, no stream, undecodable
    NO_AUDIO = "no_audio"  # no sound track, or only silence
    BAD_SPAN = "bad_span"  # the span runs past the video's end, or is too short for what is asked of it
    NO_PERSON = "no_person"  # nobody detected in any frame
    NO_CLIPS = "no_clips"  # automatic boundaries found no clip
    NO_SONG_ID = "no_song_id"  # no song id given and none could be found
    # skipped: on purpose
    UNUSABLE = "unusable"  # an annotator marked the clip unusable
    MIXED_SPANS = "mixed_spans"  # a compilation with spans and a row asking for automatic boundaries
    # crashed: the code
    EXCEPTION = "exception"  # an unexpected exception in a stage (a bug; the traceback is in the log)
    WORKER_DIED = "worker_died"  # the worker process died (OOM killer, a segfault) on every retry
    NOT_PROCESSED = "not_processed"  # the build never reached the clip (a bug)


class StageError(Exception):
    """A data problem a stage reports as a failed record (bad video, no audio, no person), with its kind."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.BAD_INPUT):
        super().__init__(message)
        self.kind = kind

    def __reduce__(self):  # keeps the kind across processes (Exception pickles only its args)
        return type(self), (str(self), self.kind)
