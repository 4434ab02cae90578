"""The stages of a build, in the order ``build`` runs them: the one list that ``build``, ``status`` and the
stage contract test read.

``BuildStages`` holds one configured stage per field; a field's name is its stage's name (the folder of
its records), and ``STAGE_TYPES`` is read off the fields, so a stage is registered in exactly one place.
The boundaries stage runs only for compilations given without spans.
"""

from __future__ import annotations

import dataclasses
import typing

from tiktok_dm.config import BuildConfig
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.stages.base import Stage
from tiktok_dm.stages.boundaries import BoundaryStage
from tiktok_dm.stages.cut import CutStage
from tiktok_dm.stages.download import DownloadStage
from tiktok_dm.stages.fingerprint import FingerprintStage
from tiktok_dm.stages.pose import PoseStage
from tiktok_dm.stages.segments import SegmentStage


@dataclasses.dataclass(frozen=True)
class BuildStages:
    download: DownloadStage
    boundaries: BoundaryStage
    cut: CutStage
    fingerprint: FingerprintStage
    pose: PoseStage
    segments: SegmentStage

    @classmethod
    def from_config(cls, config: BuildConfig, build_dir: BuildDir) -> "BuildStages":
        return cls(**{name: stage.from_config(config, build_dir) for name, stage in STAGE_TYPES.items()})


STAGE_TYPES: dict[str, type[Stage]] = {field.name: typing.get_type_hints(BuildStages)[field.name]
                                       for field in dataclasses.fields(BuildStages)}
