"""Stages with scripted behaviour, to test executors without media."""

from __future__ import annotations

import os
from typing import Any

from tiktok_dm.records import StageError
from tiktok_dm.workdir import BuildDir


class ScriptedStage:
    """Item ``"crash"`` kills its worker process, ``"bug"`` raises a programming error, ``"bad"`` a data
    error; anything else succeeds and echoes the item."""

    name = "scripted"

    def __init__(self, build_dir: BuildDir):
        self.build_dir = build_dir

    def key(self, item: str) -> str:
        return item

    def run(self, item: str) -> dict[str, Any]:
        if item == "crash":
            os._exit(13)  # what the OOM killer or a segfault in native code looks like to Ray
        if item == "bug":
            raise ZeroDivisionError("division by zero in a stage")
        if item == "bad":
            raise StageError("bad input data")
        return {"echo": item, "pid": os.getpid()}
