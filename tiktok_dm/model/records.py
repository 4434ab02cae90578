"""The record of one stage on one item: its status, its typed output or its error, and its input hash.

A record is stored as ``results/<stage>/<key>.json`` once the stage's outputs are in place (see
``tiktok_dm.model.build_dir``), so "a record with status ok" is the definition of done. The input hash
says what the record was made from (stage, settings, item): a re-run reuses a record only when it
still matches.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, Generic, TypeVar

from tiktok_dm.model.status import ErrorKind, Status

O = TypeVar("O")


@dataclasses.dataclass(frozen=True)
class StageRecord(Generic[O]):
    stage: str
    key: str
    status: Status
    output: O | None = None  # set exactly when status is ok
    error_kind: ErrorKind | None = None
    error: str | None = None  # the original error text of a failure
    seconds: float = 0.0
    input_hash: str = ""
    node: str = ""  # where it ran: the Ray node's id, or "local" (the executor says)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @classmethod
    def success(cls, stage: str, key: str, output: O, seconds: float = 0.0) -> "StageRecord[O]":
        return cls(stage=stage, key=key, status=Status.OK, output=output, seconds=seconds)

    @classmethod
    def failure(cls, stage: str, key: str, error: str, kind: ErrorKind, status: Status = Status.FAILED,
                seconds: float = 0.0) -> "StageRecord[O]":
        return cls(stage=stage, key=key, status=status, error_kind=kind, error=error, seconds=seconds)

    def to_json(self) -> str:
        payload = {
            "stage": self.stage, "key": self.key, "status": self.status.value,
            "output": dataclasses.asdict(self.output) if self.output is not None else None,
            "error_kind": self.error_kind.value if self.error_kind is not None else None,
            "error": self.error, "seconds": self.seconds, "input_hash": self.input_hash, "node": self.node,
        }
        return json.dumps(payload, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str, output_type: type[O]) -> "StageRecord[O]":
        """Raises ``ValueError`` when the text is not a record of ``output_type`` (e.g. one written by an
        older version whose output had other fields)."""
        try:
            payload = json.loads(text)
            output = payload.get("output")
            kind = payload.get("error_kind")
            return cls(stage=payload["stage"], key=payload["key"], status=Status(payload["status"]),
                       output=from_plain(output_type, output) if output is not None else None,
                       error_kind=ErrorKind(kind) if kind is not None else None, error=payload.get("error"),
                       seconds=float(payload.get("seconds", 0.0)), input_hash=payload.get("input_hash", ""),
                       node=payload.get("node", ""))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a {output_type.__name__} record: {type(error).__name__}: {error}") from error


def from_plain(cls: type[O], data: dict[str, Any]) -> O:
    """A frozen dataclass from JSON values: lists become the tuples its fields are typed as, nested
    dataclasses are rebuilt. Unknown or missing fields raise TypeError."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            continue  # a default applies, or the constructor names what is missing
        values[field.name] = _typed(hints[field.name], data[field.name])
    unknown = sorted(set(data) - {field.name for field in dataclasses.fields(cls)})
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {unknown}")
    return cls(**values)


def _typed(hint: Any, value: Any) -> Any:
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        (element, *_) = typing.get_args(hint)
        return tuple(_typed(element, item) for item in value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_plain(hint, value)
    return value
