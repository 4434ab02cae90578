"""How things are named in a build's files: D2M segment names, the integers in them, source keys.

TikTok segment files are named ``{COMP:06d}_{MUSIC}_{CLIP}_seg{K}`` (compilation, music id, global
clip id, 1-based 2-second segment index), as in the official D2M-GAN lists;
:func:`format_segment_name` is the one place that builds such a name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Iterable

from tiktok_dm.model.clips import ClipRecord

TIKTOK_STEM = re.compile(r"^(\d{6})_(\d+)_(\d+)_seg(\d+)$")
MAX_COMPILATION_ID = 999_999  # six digits in the name


@dataclasses.dataclass(frozen=True)
class SegmentName:
    """The four fields of a TikTok segment name."""

    compilation: int
    music: int
    clip: int
    k: int

    @property
    def stem(self) -> str:
        return format_segment_name(self.compilation, self.music, self.clip, self.k)


def format_segment_name(compilation: int, music: int, clip: int, k: int) -> str:
    """Stem of a TikTok segment file, e.g. ``000007_7_188_seg3`` (the only place names are built)."""
    fields = {"compilation": compilation, "music": music, "clip": clip, "k": k}
    not_ints = {name: value for name, value in fields.items() if isinstance(value, bool) or not isinstance(value, int)}
    if not_ints:
        raise ValueError(f"segment name fields must be ints, got {not_ints}")
    if not 0 <= compilation <= MAX_COMPILATION_ID:
        raise ValueError(f"compilation must be within 0..{MAX_COMPILATION_ID}, got {compilation}")
    if music < 0 or clip < 0:
        raise ValueError(f"music and clip ids must be >= 0, got music={music}, clip={clip}")
    if k < 1:
        raise ValueError(f"segment index k is 1-based, got {k}")
    return f"{compilation:06d}_{music}_{clip}_seg{k}"


def parse_segment_name(stem: str) -> SegmentName:
    """Inverse of :func:`format_segment_name`; rejects names it would not produce (e.g. ``seg03``)."""
    match = TIKTOK_STEM.match(stem)
    if match is None:
        raise ValueError(f"segment name {stem!r} does not match COMP(6 digits)_MUSIC_CLIP_segK")
    name = SegmentName(*(int(group) for group in match.groups()))
    # Leading zeros would make two spellings of one segment; only the canonical one is accepted.
    if name.stem != stem:
        raise ValueError(f"segment name {stem!r} is not canonical; expected {name.stem!r}")
    return name


@dataclasses.dataclass(frozen=True)
class D2MIndex:
    """The integers the official naming needs for one clip."""

    compilation: int
    music: int
    clip: int


def d2m_indices(clips: Iterable[ClipRecord]) -> dict[str, D2MIndex]:
    """Integers for the official names of spanned clips with a song id. Numeric ids are used as they are
    (the official lists use integers); otherwise ids are numbered in order of first appearance. Song ids
    found by fingerprint (never numeric) are numbered after the largest numeric song id, so the
    manifest's music ids keep their numbers when some clips have none. Every spanned clip counts for
    the numbering, failed or not, so a clip's name does not change when another clip fails."""
    clips = [clip for clip in clips if clip.spec.has_span]

    def numbering(values: list[str]) -> dict[str, int]:
        if all(v.isdigit() for v in values):
            return {v: int(v) for v in values}
        return {v: i for i, v in enumerate(dict.fromkeys(values))}

    def song_numbering(values: list[str]) -> dict[str, int]:
        numeric = {v: int(v) for v in values if v.isdigit()}
        if not numeric:
            return numbering(values)
        first = max(numeric.values()) + 1
        others = dict.fromkeys(v for v in values if not v.isdigit())
        return {**numeric, **{v: first + i for i, v in enumerate(others)}}

    compilations = numbering([c.compilation_id for c in clips])
    songs = song_numbering([c.song_id for c in clips if c.song_id is not None])
    clip_numbers = numbering([c.clip_id for c in clips])
    return {c.clip_id: D2MIndex(compilations[c.compilation_id], songs[c.song_id], clip_numbers[c.clip_id])
            for c in clips if c.song_id is not None}


def proposed_clip_id(compilation_id: str, index: int) -> str:
    """The id of the ``index``-th clip (from 0) proposed for a compilation given without spans."""
    return f"{compilation_id}-{index:04d}"


def url_key(url: str) -> str:
    """Stable file-safe key of a URL: the download done-list is keyed by URL, not by yt-dlp's id."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]
