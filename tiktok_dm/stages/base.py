"""The one stage contract: a stage maps an item to its typed output; ``run_item`` makes that a record.

A stage is a subclass of ``Stage[Item, Output]``: ``key(item)`` names the item (the record's file
name), ``run(item)`` does the work and returns the output (raising ``StageError`` on bad data), and
``settings_identity()`` says which of its settings shape the output. Items are frozen dataclasses with
an ``identity()``: what the output depends on (the item's spans, paths, and the input hashes or
checksums of what it was made from).

``run_item`` wraps every call the same way on every executor: data problems (StageError) become
failed records, unexpected exceptions crashed ones, the call is timed, and the record is written
only after the stage's outputs are in place. Each record carries its input hash: a hash of the stage,
its settings and the item's identity. A re-run reuses a record only when the input hash still matches,
so an edited span, a changed setting or a re-downloaded source redoes exactly the work that depends
on it.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import logging
import time
import traceback
from typing import Any, ClassVar, Generic, Mapping, Protocol, TypeVar

from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.records import StageRecord
from tiktok_dm.model.status import ErrorKind, StageError, Status

log = logging.getLogger(__name__)


class StageItem(Protocol):
    def identity(self) -> str:
        """What the stage's output for this item depends on, as text (hashed into the record's input hash)."""
        ...


I = TypeVar("I", bound=StageItem)
O = TypeVar("O")


class Stage(abc.ABC, Generic[I, O]):
    """A per-item stage: its own config section, the build directory it writes to, one output type."""

    output_type: ClassVar[type]
    name: ClassVar[str]  # the output type's stage: the folder of its records

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "output_type" in cls.__dict__:
            cls.name = cls.output_type.stage

    def __init__(self, config: Any, build_dir: BuildDir):
        self.config = config
        self.build_dir = build_dir

    @abc.abstractmethod
    def key(self, item: I) -> str:
        """The item's name among this stage's records (a file name)."""

    @abc.abstractmethod
    def run(self, item: I) -> O:
        """Do the work; raise StageError on bad data."""

    def settings_identity(self) -> str:
        """The settings that shape this stage's outputs (by default its whole config section)."""
        return repr(self.config)

    def concurrency_group(self, item: I) -> str | None:
        """Items of one group run at most ``max_per_group`` at a time, on any executor and cluster size (the
        download stage groups by host, to be polite to it). None: the item runs whenever a worker is free."""
        return None

    @property
    def max_per_group(self) -> int:
        return 1

    def ray_resources(self, cluster: Mapping[str, float]) -> dict[str, float]:
        """What one item asks a Ray cluster for beyond its CPU (``cluster``: the cluster's resources, as
        ``ray.cluster_resources()`` gives them), e.g. {"num_gpus": 0.25}; none by default."""
        return {}


def input_hash(stage: Stage, item: StageItem) -> str:
    """What a record was made from: the stage, the settings that shape its output and the item."""
    return hashlib.sha1(f"{stage.name}\n{stage.settings_identity()}\n{item.identity()}".encode("utf-8")).hexdigest()


def is_done(stage: Stage[I, O], item: I) -> StageRecord[O] | None:
    """The item's earlier record if it succeeded on the same inputs, else None."""
    previous = stage.build_dir.read_record(stage.output_type, stage.key(item))
    if previous is None or not previous.ok:
        return None
    if previous.input_hash != input_hash(stage, item):
        log.info("%s %s: inputs or settings changed since the last run; redoing it", stage.name, previous.key)
        return None
    return previous


def run_item(stage: Stage[I, O], item: I, node: str = "local") -> StageRecord[O]:
    """Run the stage on one item and write its record; ``node`` says where (the executor knows)."""
    key = stage.key(item)
    started = time.perf_counter()
    try:
        record = StageRecord.success(stage.name, key, stage.run(item), seconds=time.perf_counter() - started)
    except StageError as error:
        record = StageRecord.failure(stage.name, key, str(error), error.kind, seconds=time.perf_counter() - started)
        log.warning("%s %s failed: %s", stage.name, key, error)
    except Exception as error:  # one bad item must never sink the run
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        record = StageRecord.failure(stage.name, key, f"unexpected {detail}", ErrorKind.EXCEPTION, Status.CRASHED,
                                     seconds=time.perf_counter() - started)
        log.error("%s %s crashed:\n%s", stage.name, key, traceback.format_exc())
    return record_result(stage, item, record, node)


def record_result(stage: Stage[I, O], item: I, record: StageRecord[O], node: str = "local") -> StageRecord[O]:
    """Stamp ``record`` with the item's input hash and node and write it (after the stage's outputs are in place)."""
    record = dataclasses.replace(record, input_hash=input_hash(stage, item), node=node)
    stage.build_dir.write_record(record)
    return record
