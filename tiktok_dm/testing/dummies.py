"""Stages with scripted behaviour, to test executors without media."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import ClassVar

from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.status import StageError
from tiktok_dm.stages.base import Stage


@dataclasses.dataclass(frozen=True)
class EchoOutput:
    stage: ClassVar[str] = "scripted"

    echo: str
    pid: int


@dataclasses.dataclass(frozen=True)
class ScriptedItem:
    name: str

    def identity(self) -> str:
        return self.name


class ScriptedStage(Stage[ScriptedItem, EchoOutput]):
    """Item ``"crash"`` kills its worker process, ``"bug"`` raises a programming error, ``"bad"`` a data
    error, ``"sleep:S"`` takes S seconds; anything else succeeds and echoes the item."""

    output_type = EchoOutput

    def __init__(self, build_dir: BuildDir):
        super().__init__(None, build_dir)

    def key(self, item: ScriptedItem) -> str:
        return item.name

    def run(self, item: ScriptedItem) -> EchoOutput:
        if item.name == "crash":
            os._exit(13)  # what the OOM killer or a segfault in native code looks like to Ray
        if item.name == "bug":
            raise ZeroDivisionError("division by zero in a stage")
        if item.name == "bad":
            raise StageError("bad input data")
        if item.name.startswith("sleep:"):
            time.sleep(float(item.name.split(":", 1)[1]))
        return EchoOutput(echo=item.name, pid=os.getpid())
