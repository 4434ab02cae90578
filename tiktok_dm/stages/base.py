"""The one stage contract: ``stage.key(item)`` names the item, ``stage.run(item)`` does the work.

``run_item`` wraps every call the same way on every executor: turn data problems (StageError)
and unexpected crashes into failure rows, time the call, and write the record only after the
stage's outputs are in place.

Each record carries the item's fingerprint: a hash of the stage, the settings that shape its
outputs and the item itself (which holds the fingerprint or checksum of what it was made from).
A re-run reuses a record only when the fingerprint still matches, so an edited span, a changed
setting or a re-downloaded source redoes exactly the work that depends on it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
import traceback
from typing import Any, Protocol, runtime_checkable

from tiktok_dm.records import StageError, StageResult
from tiktok_dm.workdir import BuildDir

log = logging.getLogger(__name__)


@runtime_checkable
class Stage(Protocol):
    name: str
    build_dir: BuildDir

    def key(self, item: Any) -> str: ...

    def run(self, item: Any) -> dict[str, Any]:
        """Do the work; return the outputs (relative paths and small facts). Raise StageError on bad data."""
        ...


class ConfiguredStage:
    """What every pipeline stage holds: its own config section and the build directory it writes to."""

    name: str

    def __init__(self, config: Any, build_dir: BuildDir):
        self.config = config
        self.build_dir = build_dir

    def settings_identity(self) -> str:
        """The settings that shape this stage's outputs (by default its whole config section)."""
        return repr(self.config)


def fingerprint(stage: Stage, item: Any) -> str:
    """Items may narrow what counts with an ``identity()`` method; otherwise their repr counts."""
    settings = stage.settings_identity() if hasattr(stage, "settings_identity") else ""
    identity = item.identity() if hasattr(item, "identity") else repr(item)
    return hashlib.sha1(f"{stage.name}\n{settings}\n{identity}".encode("utf-8")).hexdigest()


def is_done(stage: Stage, item: Any) -> StageResult | None:
    """The item's earlier result if it succeeded on the same inputs, else None."""
    previous = stage.build_dir.read_result(stage.name, stage.key(item))
    if previous is None or not previous.ok:
        return None
    if previous.fingerprint != fingerprint(stage, item):
        log.info("%s %s: inputs or settings changed since the last run; redoing it", stage.name, previous.key)
        return None
    return previous


def run_item(stage: Stage, item: Any) -> StageResult:
    key = stage.key(item)
    started = time.perf_counter()
    try:
        outputs = stage.run(item)
        result = StageResult.success(stage.name, key, seconds=time.perf_counter() - started, **outputs)
    except StageError as error:
        result = StageResult.failure(stage.name, key, str(error), seconds=time.perf_counter() - started)
        log.warning("%s %s failed: %s", stage.name, key, error)
    except Exception as error:  # one bad item must never sink the run
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        result = StageResult.failure(stage.name, key, f"unexpected {detail}", seconds=time.perf_counter() - started)
        log.error("%s %s crashed:\n%s", stage.name, key, traceback.format_exc())
    result = dataclasses.replace(result, fingerprint=fingerprint(stage, item))
    stage.build_dir.write_result(result)
    return result
