"""Where a build keeps its files, and the per-item result records that make re-runs resumable.

A record ``results/<stage>/<key>.json`` exists only once the stage's outputs for that item are
in place (outputs are renamed into place before the record is written), so "record with status
ok" is the definition of done.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

from tiktok_dm.atomic import atomic_write_text
from tiktok_dm.records import StageResult


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

    # Result records.
    def record_path(self, stage: str, key: str) -> Path:
        return self.root / "results" / stage / f"{key}.json"

    def read_result(self, stage: str, key: str) -> StageResult | None:
        path = self.record_path(stage, key)
        if not path.exists():
            return None
        return StageResult.from_json(path.read_text())

    def write_result(self, result: StageResult) -> None:
        atomic_write_text(self.record_path(result.stage, result.key), result.to_json())

    def is_done(self, stage: str, key: str) -> bool:
        result = self.read_result(stage, key)
        return result is not None and result.ok

    def results(self, stage: str) -> Iterator[StageResult]:
        folder = self.root / "results" / stage
        for path in sorted(folder.glob("*.json")) if folder.exists() else ():
            yield StageResult.from_json(path.read_text())


def url_key(url: str) -> str:
    """Stable file-safe key of a URL: the download done-list is keyed by URL, not by yt-dlp's id."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]


def sha256_of(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()
