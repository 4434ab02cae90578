"""Where a build keeps its files, and the per-item result records that make re-runs resumable.

A record ``results/<stage>/<key>.json`` exists only once the stage's outputs for that item are
in place (outputs are renamed into place before the record is written), so "record with status
ok" is the definition of done.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Iterator, TypeVar

from tiktok_dm.model.atomic import atomic_write_text
from tiktok_dm.model.records import StageRecord

log = logging.getLogger(__name__)

O = TypeVar("O")


class BuildDir:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    # Media produced by the stages.
    @property
    def sources(self) -> Path:
        return self.root / "sources"

    @property
    def clips(self) -> Path:
        return self.root / "clips"

    @property
    def clip_audio(self) -> Path:
        return self.root / "clip_audio"

    @property
    def poses(self) -> Path:
        return self.root / "poses"

    @property
    def d2m(self) -> Path:
        """Segments in the official D2M layout: d2m/audio_s2/*.wav, d2m/motion_s2/*.npy."""
        return self.root / "d2m"

    @property
    def splits(self) -> Path:
        return self.root / "splits"

    @property
    def dataset(self) -> Path:
        """The Hugging Face dataset folder."""
        return self.root / "dataset"

    @property
    def segments_table(self) -> Path:
        return self.root / "segments.csv"

    @property
    def failures_table(self) -> Path:
        return self.root / "failures.csv"

    def relative(self, path: str | Path) -> str:
        return str(Path(path).resolve().relative_to(self.root))

    def absolute(self, relative: str) -> Path:
        return self.root / relative

    @property
    def clips_table(self) -> Path:
        """clips.csv: one row per manifest row (or proposed clip) with its status, song id and split."""
        return self.root / "clips.csv"

    # Stage records.
    def record_path(self, stage: str, key: str) -> Path:
        return self.root / "results" / stage / f"{key}.json"

    def read_record(self, output_type: type[O], key: str) -> StageRecord[O] | None:
        """The record of ``key`` in the stage that makes ``output_type``; None when there is none, or when it
        cannot be read as one (written by another version: the item is then redone)."""
        path = self.record_path(output_type.stage, key)
        if not path.exists():
            return None
        try:
            return StageRecord.from_json(path.read_text(), output_type)
        except ValueError as error:
            log.info("%s: %s; the item will be redone", self.relative(path), error)
            return None

    def write_record(self, record: StageRecord) -> None:
        atomic_write_text(self.record_path(record.stage, record.key), record.to_json())

    def records(self, output_type: type[O]) -> Iterator[StageRecord[O]]:
        """Every readable record of the stage that makes ``output_type``, by key."""
        folder = self.root / "results" / output_type.stage
        for path in sorted(folder.glob("*.json")) if folder.exists() else ():
            record = self.read_record(output_type, path.stem)
            if record is not None:
                yield record


def sha256_of(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()
