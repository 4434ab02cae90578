"""The manifest: one row per clip of a compilation video, read with pandas and validated up front.

Columns: ``compilation_id, url, clip_id, start_s, end_s, song_id, num_dancers``; any other
column is kept and travels with the clip. ``start_s``, ``end_s``, ``song_id`` and ``num_dancers``
may be empty (later stages fill them); a row with empty ``clip_id``, ``start_s`` and ``end_s``
asks for the compilation to be segmented automatically.

Validation collects every problem before raising, so a user fixes the file in one pass. Ids that name
files (``compilation_id``, ``clip_id``) must be safe as a file name on every file system; no id may start like
a spreadsheet formula; ``num_dancers`` is at most ``MAX_DANCERS``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import urlparse

import pandas as pd

from tiktok_dm.model.tables import is_formula_like

REQUIRED_COLUMNS = ("compilation_id", "url", "clip_id", "start_s", "end_s", "song_id", "num_dancers")
ALLOWED_URL_SCHEMES = ("http", "https")
# The header is line 1 of the CSV, so data row i (0-based) sits on line i + 2.
_FIRST_DATA_LINE = 2
# Ids become file names with a prefix and a suffix (".tmp-<id>-xxxxxxxx_skeleton.png"): 100 bytes leave room in
# the 255 bytes every common file system allows a name.
MAX_ID_BYTES = 100
# D2M-GAN's clips show up to five dancers; a compilation frame cannot hold a hundred posed people.
MAX_DANCERS = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Not in a file name on Windows (and '/' nowhere), besides control characters.
_NOT_IN_FILE_NAMES = re.compile(r'[/\\<>:"|?*]')
_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """One manifest row: a time span of a compilation, not yet cut."""

    compilation_id: str
    url: str
    clip_id: str | None
    start_s: float | None
    end_s: float | None
    song_id: str | None
    num_dancers: int | None
    line: int
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def has_span(self) -> bool:
        return self.start_s is not None and self.end_s is not None

    @property
    def marked_unusable(self) -> bool:
        """Annotators mark clips unusable in Label Studio; `annotate pull` writes that into a 'usable' column."""
        return str(self.extra.get("usable", "")).strip().lower() in {"false", "no", "0", "unusable"}

    @property
    def duration_s(self) -> float:
        if not self.has_span:
            raise ValueError(f"clip {self.clip_id!r} (line {self.line}) has no span")
        return self.end_s - self.start_s


@dataclasses.dataclass(frozen=True)
class Compilation:
    compilation_id: str
    url: str
    clips: tuple[ClipSpec, ...]


class ManifestError(ValueError):
    """Every problem found in a manifest, each with its CSV line number."""

    def __init__(self, path: str | Path, problems: list[tuple[int, str]]):
        self.path = str(path)
        self.problems = sorted(problems)
        lines = "\n".join(f"  line {line}: {message}" for line, message in self.problems)
        super().__init__(f"{self.path}: {len(self.problems)} problem(s); nothing was written\n{lines}")


# A check of all rows that needs more than the manifest (a build's settings): (line, problem) for each bad row.
RowCheck = Callable[[Sequence["ClipSpec"]], list[tuple[int, str]]]


@dataclasses.dataclass(frozen=True)
class Manifest:
    path: str
    clips: tuple[ClipSpec, ...]

    @classmethod
    def from_csv(cls, path: str | Path, allow_file_urls: bool = False, checks: Iterable[RowCheck] = ()) -> "Manifest":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"manifest {path} does not exist")
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise ManifestError(path, [(1, f"not a readable CSV: {error}")]) from error
        return cls.from_frame(frame, path=str(path), allow_file_urls=allow_file_urls, checks=checks)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, path: str = "<manifest>", allow_file_urls: bool = False,
                   checks: Iterable[RowCheck] = ()) -> "Manifest":
        missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
        if missing:
            raise ManifestError(path, [(1, f"missing column(s) {missing}; required: {list(REQUIRED_COLUMNS)}")])
        problems: list[tuple[int, str]] = []
        clips = [_parse_row(row, _FIRST_DATA_LINE + index, problems, allow_file_urls)
                 for index, row in enumerate(frame.to_dict("records"))]
        problems += _cross_row_problems(clips)
        for check in checks:
            problems += check(clips)
        if problems:
            raise ManifestError(path, problems)
        return cls(path=path, clips=tuple(clips))

    @property
    def compilations(self) -> tuple[Compilation, ...]:
        """Compilations in order of first appearance, each with its rows in manifest order."""
        grouped: dict[str, list[ClipSpec]] = {}
        for clip in self.clips:
            grouped.setdefault(clip.compilation_id, []).append(clip)
        return tuple(Compilation(cid, rows[0].url, tuple(rows)) for cid, rows in grouped.items())

    @property
    def spanned_clips(self) -> tuple[ClipSpec, ...]:
        return tuple(clip for clip in self.clips if clip.has_span)

    @property
    def unsegmented_compilations(self) -> tuple[Compilation, ...]:
        """Compilations with a row that gives a URL but no clip spans (to be segmented automatically)."""
        return tuple(c for c in self.compilations if any(clip.clip_id is None for clip in c.clips))


def _parse_row(row: dict[str, str], line: int, problems: list[tuple[int, str]], allow_file_urls: bool) -> ClipSpec:
    def text(column: str) -> str | None:
        value = str(row.get(column, "")).strip()
        return value or None

    compilation_id, clip_id, song_id, url = text("compilation_id"), text("clip_id"), text("song_id"), text("url")
    for column, value in (("compilation_id", compilation_id), ("clip_id", clip_id)):
        problem = id_problem(value) if value is not None else None
        if problem:
            problems.append((line, f"{column} {value!r} {problem}"))
    problem = song_id_problem(song_id) if song_id is not None else None
    if problem:
        problems.append((line, f"song_id {song_id!r} {problem}"))
    if compilation_id is None:
        problems.append((line, "compilation_id is empty"))
    problems += [(line, message) for message in _url_problems(url, allow_file_urls)]

    start_s = _number(row, "start_s", line, problems)
    end_s = _number(row, "end_s", line, problems)
    if (start_s is None) != (end_s is None):
        problems.append((line, "start_s and end_s must both be given or both be empty"))
    if start_s is not None and end_s is not None:
        if start_s < 0:
            problems.append((line, f"start_s {start_s} is negative"))
        if start_s >= end_s:
            problems.append((line, f"start_s {start_s} >= end_s {end_s}"))
    if clip_id is None and start_s is not None:
        problems.append((line, "a row with a span needs a clip_id"))

    dancers = _number(row, "num_dancers", line, problems)
    num_dancers = None
    if dancers is not None:
        if dancers < 0 or dancers != int(dancers):
            problems.append((line, f"num_dancers {row['num_dancers']!r} is not a non-negative integer"))
        elif dancers > MAX_DANCERS:
            problems.append((line, f"num_dancers {row['num_dancers']!r} is more than {MAX_DANCERS}"))
        else:
            num_dancers = int(dancers)

    extra = {key: value for key, value in row.items() if key not in REQUIRED_COLUMNS}
    return ClipSpec(compilation_id or "", url or "", clip_id, start_s, end_s, song_id, num_dancers, line, extra)


def _number(row: dict[str, str], column: str, line: int, problems: list[tuple[int, str]]) -> float | None:
    raw = str(row.get(column, "")).strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        problems.append((line, f"{column} {raw!r} is not a number"))
        return None
    if not math.isfinite(value):
        problems.append((line, f"{column} {raw!r} is not a finite number"))
        return None
    return value


def _url_problems(url: str | None, allow_file_urls: bool) -> list[str]:
    if url is None:
        return ["url is empty"]
    scheme = urlparse(url).scheme.lower()
    if scheme == "file":
        if allow_file_urls:
            return []
        return [f"file:// URL {url!r} refused (a manifest must not read local files); pass --allow-file-urls to permit it"]
    if scheme not in ALLOWED_URL_SCHEMES:
        return [f"url {url!r} must be http(s)://"]
    return []


def _cross_row_problems(clips: Iterable[ClipSpec]) -> list[tuple[int, str]]:
    clips = list(clips)
    problems: list[tuple[int, str]] = []
    first_line_of_clip: dict[str, int] = {}
    compilation_of_url: dict[str, tuple[str, int]] = {}
    url_of_compilation: dict[str, tuple[str, int]] = {}
    for clip in clips:
        if clip.clip_id is not None:
            if clip.clip_id in first_line_of_clip:
                problems.append((clip.line, f"duplicate clip_id {clip.clip_id!r} (first on line {first_line_of_clip[clip.clip_id]})"))
            else:
                first_line_of_clip[clip.clip_id] = clip.line
        if not clip.url or not clip.compilation_id:
            continue
        other_compilation, other_line = compilation_of_url.setdefault(clip.url, (clip.compilation_id, clip.line))
        if other_compilation != clip.compilation_id:
            problems.append((clip.line, f"url {clip.url!r} is under compilation {clip.compilation_id!r} here and "
                                        f"{other_compilation!r} on line {other_line}"))
        other_url, other_line = url_of_compilation.setdefault(clip.compilation_id, (clip.url, clip.line))
        if other_url != clip.url:
            problems.append((clip.line, f"compilation {clip.compilation_id!r} has url {clip.url!r} here and "
                                        f"{other_url!r} on line {other_line}"))
    problems += _overlap_problems(clips)
    return problems


def _overlap_problems(clips: list[ClipSpec]) -> list[tuple[int, str]]:
    problems = []
    by_compilation: dict[str, list[ClipSpec]] = {}
    for clip in clips:
        if clip.has_span and clip.start_s < clip.end_s:
            by_compilation.setdefault(clip.compilation_id, []).append(clip)
    for compilation_id, spans in by_compilation.items():
        spans.sort(key=lambda c: (c.start_s, c.end_s))
        for previous, current in zip(spans, spans[1:]):
            if current.start_s < previous.end_s:
                problems.append((current.line, f"clip {current.clip_id!r} [{current.start_s}, {current.end_s}] overlaps "
                                               f"clip {previous.clip_id!r} [{previous.start_s}, {previous.end_s}] on line "
                                               f"{previous.line} in compilation {compilation_id!r}"))
    return problems


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a compilation or clip id (it names files on every file system), or None."""
    if not value.strip() or value != value.strip():
        return "is empty or has spaces around it"
    if _CONTROL.search(value) or _NOT_IN_FILE_NAMES.search(value):
        return 'is unsafe as a file name (no control characters, no / \\ < > : " | ? *)'
    if ".." in value or value.startswith(".") or value.endswith("."):
        return "is unsafe as a file name (no '..', no leading or trailing '.')"
    if len(value.encode("utf-8")) > MAX_ID_BYTES:
        return f"is {len(value.encode('utf-8'))} bytes long; ids name files and may have at most {MAX_ID_BYTES}"
    if _WINDOWS_DEVICES.match(value):
        return "is a device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
    if is_formula_like(value) or value.startswith("-"):
        return "starts like a spreadsheet formula or a command-line option (=, +, -, @)"
    return None


def song_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a song id, or None (song ids name no file)."""
    if _CONTROL.search(value):
        return "has control characters"
    if len(value.encode("utf-8")) > MAX_ID_BYTES:
        return f"is {len(value.encode('utf-8'))} bytes long; at most {MAX_ID_BYTES}"
    if is_formula_like(value):
        return "starts like a spreadsheet formula (=, +, -, @)"
    return None


def is_safe_id(value: str) -> bool:
    return id_problem(value) is None
