"""Clips that share a stretch of sound: the build's verified audio links (``audio_links.csv``).

The songs step finds them (``tiktok_dm.dataset.song_ids``); the split keeps linked clips on one side, and the
recording matcher (``tiktok_dm.quality.recordings``) checks at each link's alignment whether the two clips also show
the same dancer moving the same way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from tiktok_dm.model.tables import read_csv, write_csv

AUDIO_LINKS_CSV = "audio_links.csv"


@dataclasses.dataclass(frozen=True)
class AudioLink:
    """Two clips whose audio matches (a verified fingerprint link): they share a stretch of sound."""

    clip_a: str
    clip_b: str
    score: int  # matched peaks, the weaker of the two directions
    # Where b's sound starts in a's (s; negative: a starts that far into b), and how much faster b plays.
    offset_s: float = 0.0
    speed: float = 1.0


AUDIO_LINK_COLUMNS = [field.name for field in dataclasses.fields(AudioLink)]


def write_audio_links(links: tuple[AudioLink, ...] | list[AudioLink], path: str | Path) -> None:
    write_csv(pd.DataFrame([dataclasses.asdict(link) for link in links], columns=AUDIO_LINK_COLUMNS), path)


def read_audio_links(path: str | Path) -> list[AudioLink]:
    table = read_csv(path)
    return [AudioLink(row["clip_a"], row["clip_b"], int(row["score"]), float(row["offset_s"]), float(row["speed"]))
            for row in table.to_dict("records")]
