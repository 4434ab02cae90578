"""The clip record that travels through a build, and the set of them that becomes ``clips.csv``.

A ``ClipRecord`` starts as a manifest row (its ``ClipSpec``) and gathers, stage by stage, the typed
output of each stage that made something of it, its resolved song id and, at the end, its split. The
first failure is kept: once a clip is not ok, later stages leave it alone. A ``ClipSet`` holds the
records of one build in manifest order (the clips proposed for a compilation given without spans come
after the manifest's rows) and writes the table people read, ``clips.csv``.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pandas as pd

from tiktok_dm.model.manifest import REQUIRED_COLUMNS, ClipSpec, Manifest
from tiktok_dm.model.outputs import CutOutput, DownloadOutput, FingerprintOutput, PoseOutput, SegmentsOutput
from tiktok_dm.model.status import ErrorKind, Status
from tiktok_dm.model.tables import read_csv, write_csv


class SongSource(str, enum.Enum):
    """Where a clip's song id came from."""

    MANIFEST = "manifest"  # given in the manifest
    FINGERPRINT = "fingerprint"  # found from the clip's audio (tiktok_dm.dataset.song_ids)


RowKey = tuple[int, "str | None"]  # a clip's manifest line and clip id (proposed clips share a line)

# clips.csv, in this order; the manifest's other columns come after num_dancers.
LEADING_COLUMNS = ("line", "compilation_id", "url", "clip_id", "start_s", "end_s", "song_id", "song_source",
                   "num_dancers")
TRAILING_COLUMNS = ("status", "failed_stage", "error_kind", "error", "duration_s", "num_segments", "fps", "width",
                    "height", "pose_backend", "person_coverage", "pose_tracks", "pose_flags", "source_sha256",
                    "tool_versions", "split")


@dataclasses.dataclass(frozen=True)
class ClipRecord:
    spec: ClipSpec
    status: Status = Status.OK
    failed_stage: str = ""
    error_kind: ErrorKind | None = None
    error: str = ""
    song_id: str | None = None  # the manifest's, or one found from the audio (song_source says which)
    song_source: SongSource | None = None
    download: DownloadOutput | None = None
    cut: CutOutput | None = None
    fingerprint: FingerprintOutput | None = None
    pose: PoseOutput | None = None
    segments: SegmentsOutput | None = None
    # JSON provenance of a finished clip: tool versions, pose checkpoint, fingerprint settings.
    tool_versions: str | None = None
    split: str = ""  # "train", "test", or "" (not placed)

    @classmethod
    def from_spec(cls, spec: ClipSpec) -> "ClipRecord":
        return cls(spec=spec, song_id=spec.song_id, song_source=SongSource.MANIFEST if spec.song_id else None)

    @property
    def key(self) -> RowKey:
        return self.spec.line, self.spec.clip_id

    @property
    def clip_id(self) -> str | None:
        return self.spec.clip_id

    @property
    def compilation_id(self) -> str:
        return self.spec.compilation_id

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def done(self) -> bool:
        """Made it through every stage (its segments exist)."""
        return self.ok and self.segments is not None

    def failed(self, stage: str, error: str, kind: ErrorKind, status: Status = Status.FAILED) -> "ClipRecord":
        """This clip not ok at ``stage``; a clip that is already not ok keeps its first failure."""
        if not self.ok:
            return self
        return dataclasses.replace(self, status=status, failed_stage=stage, error_kind=kind, error=error)

    def row(self) -> dict[str, Any]:
        """The clip's row of clips.csv."""
        spec, done = self.spec, self.done
        cut, pose = self.cut if done else None, self.pose if done else None
        return {
            "line": spec.line, "compilation_id": spec.compilation_id, "url": spec.url, "clip_id": spec.clip_id,
            "start_s": spec.start_s, "end_s": spec.end_s, "song_id": self.song_id,
            "song_source": self.song_source.value if self.song_source is not None else "",
            "num_dancers": spec.num_dancers, **spec.extra,
            "status": self.status.value, "failed_stage": self.failed_stage,
            "error_kind": self.error_kind.value if self.error_kind is not None else "", "error": self.error,
            "duration_s": cut.audio_duration_s if cut else None,
            "num_segments": len(self.segments.segments) if done else 0,
            "fps": cut.fps if cut else None, "width": cut.width if cut else None,
            "height": cut.height if cut else None,
            "pose_backend": pose.backend if pose else None,
            "person_coverage": pose.person_coverage if pose else None,
            "pose_tracks": pose.num_tracks if pose else None,
            "pose_flags": "; ".join(pose.pose_flags) if pose else None,
            "source_sha256": self.download.sha256 if self.download is not None else None,
            "tool_versions": self.tool_versions if done else None,
            "split": self.split,
        }


class ClipSet:
    """The clips of one build, in order; immutable (every change returns a new set)."""

    def __init__(self, records: Iterable[ClipRecord]):
        self._records = tuple(records)
        counts = collections.Counter(record.key for record in self._records)
        repeated = sorted((key for key, count in counts.items() if count > 1), key=str)
        if repeated:
            raise ValueError(f"a clip set holds each (manifest line, clip id) once; repeated: {repeated}")

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> "ClipSet":
        return cls(ClipRecord.from_spec(spec) for spec in manifest.clips)

    @classmethod
    def from_records(cls, records: Iterable[ClipRecord]) -> "ClipSet":
        return cls(records)

    def __iter__(self) -> Iterator[ClipRecord]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    @property
    def spanned(self) -> list[ClipRecord]:
        """Clips with a span (every row but those asking for automatic boundaries)."""
        return [record for record in self._records if record.spec.has_span]

    @property
    def done(self) -> list[ClipRecord]:
        return [record for record in self._records if record.done]

    def by_clip_id(self) -> dict[str, ClipRecord]:
        return {record.clip_id: record for record in self._records if record.clip_id is not None}

    def map(self, change: Callable[[ClipRecord], ClipRecord]) -> "ClipSet":
        return ClipSet(change(record) for record in self._records)

    def replace(self, keys: set[RowKey], records: Iterable[ClipRecord]) -> "ClipSet":
        """The set without the records ``keys``, with ``records`` added at the end (proposed clips)."""
        return ClipSet([record for record in self._records if record.key not in keys] + list(records))

    def to_frame(self) -> pd.DataFrame:
        rows = [record.row() for record in self._records]
        extra = list(dict.fromkeys(column for record in self._records for column in record.spec.extra))
        columns = list(LEADING_COLUMNS) + [c for c in extra if c not in LEADING_COLUMNS + TRAILING_COLUMNS] \
            + list(TRAILING_COLUMNS)
        return pd.DataFrame(rows, columns=columns)

    def to_csv(self, path: str | Path) -> None:
        """Write clips.csv (formula-like text neutralised for spreadsheets: ``tiktok_dm.model.tables``)."""
        write_csv(self.to_frame(), path)

    @classmethod
    def read_csv(cls, path: str | Path) -> "ClipSet":
        """The clips of a ``clips.csv``: spec, status, song id and split (stage outputs are not in the table;
        read them from the build's records). Raises ``ValueError`` naming the line of a row it cannot read."""
        table = read_csv(path)
        missing = [c for c in ("line", "compilation_id", "clip_id", "status") if c not in table.columns]
        if missing:
            raise ValueError(f"{path} is not a clips.csv: missing column(s) {missing}")
        known = set(LEADING_COLUMNS) | set(TRAILING_COLUMNS)
        records = []
        for line, row in enumerate(table.to_dict("records"), start=2):
            try:
                records.append(_record_from_row(row, known))
            except ValueError as error:
                raise ValueError(f"{path}:{line}: {error}") from error
        return cls(records)


def _record_from_row(row: dict[str, str], known: set[str]) -> ClipRecord:
    def text(column: str) -> str | None:
        return row.get(column, "").strip() or None

    def number(column: str) -> float | None:
        value = text(column)
        return float(value) if value is not None else None

    source = SongSource(text("song_source")) if text("song_source") else None
    dancers = number("num_dancers")
    spec = ClipSpec(compilation_id=row["compilation_id"], url=row.get("url", ""), clip_id=text("clip_id"),
                    start_s=number("start_s"), end_s=number("end_s"),
                    song_id=text("song_id") if source is SongSource.MANIFEST else None,
                    num_dancers=int(dancers) if dancers is not None and math.isfinite(dancers) else None,
                    line=int(float(row["line"])),
                    extra={column: value for column, value in row.items()
                           if column not in known | set(REQUIRED_COLUMNS)})
    kind = text("error_kind")
    return ClipRecord(spec=spec, status=Status(row["status"]), failed_stage=row.get("failed_stage", ""),
                      error_kind=ErrorKind(kind) if kind else None, error=row.get("error", ""),
                      song_id=text("song_id"), song_source=source, tool_versions=text("tool_versions"),
                      split=row.get("split", ""))
