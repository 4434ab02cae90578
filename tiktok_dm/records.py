"""Typed results that every stage returns: one row per input, never an exception."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any


class Status(str, enum.Enum):
    OK = "ok"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class StageResult:
    """Outcome of one stage on one item (a compilation or a clip).

    ``outputs`` holds file paths relative to the build directory plus small metadata
    (durations, counts); ``error`` is the original error text of a failure.
    """

    stage: str
    key: str
    status: Status
    outputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    # Hash of the stage settings and the item this result was made from (see stages.base.fingerprint).
    fingerprint: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @classmethod
    def success(cls, stage: str, key: str, seconds: float = 0.0, **outputs: Any) -> "StageResult":
        return cls(stage=stage, key=key, status=Status.OK, outputs=outputs, seconds=seconds)

    @classmethod
    def failure(cls, stage: str, key: str, error: str, seconds: float = 0.0, **outputs: Any) -> "StageResult":
        return cls(stage=stage, key=key, status=Status.FAILED, outputs=outputs, error=error, seconds=seconds)

    def to_json(self) -> str:
        payload = dataclasses.asdict(self)
        payload["status"] = self.status.value
        return json.dumps(payload, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "StageResult":
        payload = json.loads(text)
        payload["status"] = Status(payload["status"])
        return cls(**payload)


class StageError(Exception):
    """A data problem a stage reports as a failure row (bad video, no audio, no person)."""
