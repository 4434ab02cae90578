"""Boundaries stage: a downloaded compilation without annotated spans -> proposed clips + clips CSV.

``build`` runs it for every compilation whose manifest rows give a URL but no spans, and gives
the proposals clip ids; the same proposals go to Label Studio as pre-annotations.
"""

from __future__ import annotations

import dataclasses

from tiktok_dm.boundaries.config import BoundaryConfig
from tiktok_dm.boundaries.detect import detect_clips
from tiktok_dm.boundaries.report import write_clips_csv
from tiktok_dm.config import BuildConfig
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.outputs import BoundaryOutput, ProposedSpan
from tiktok_dm.model.status import ErrorKind, StageError
from tiktok_dm.stages.base import Stage


@dataclasses.dataclass(frozen=True)
class BoundaryItem:
    compilation_id: str
    source_path: str  # relative to the build directory
    source_sha256: str = ""

    def identity(self) -> str:
        return repr((self.compilation_id, self.source_path, self.source_sha256))


class BoundaryStage(Stage[BoundaryItem, BoundaryOutput]):
    output_type = BoundaryOutput

    config: BoundaryConfig

    @classmethod
    def from_config(cls, config: BuildConfig, build_dir: BuildDir) -> "BoundaryStage":
        return cls(config.boundaries, build_dir)

    def key(self, item: BoundaryItem) -> str:
        return item.compilation_id

    def settings_identity(self) -> str:
        # How the picture is decoded (processes, threads) does not change the proposals: not part of the identity.
        return repr(self.config.proposal_settings())

    def run(self, item: BoundaryItem) -> BoundaryOutput:
        result = detect_clips(self.build_dir.absolute(item.source_path), self.config)
        if not result.clips:
            raise StageError(f"compilation {item.compilation_id}: no clip of at least {self.config.min_clip_s:g} s "
                             f"found in {result.duration_s:.1f} s of video", ErrorKind.NO_CLIPS)
        csv_path = write_clips_csv(result, self.build_dir.root / "boundaries" / f"{item.compilation_id}.csv")
        return BoundaryOutput(
            clips=tuple(ProposedSpan(c.start_s, c.end_s, c.confidence) for c in result.clips),
            csv=self.build_dir.relative(csv_path),
            duration_s=result.duration_s,
            has_audio=result.has_audio,
            warnings=tuple(result.warnings),
        )

    def for_side_by_side(self, compilations: int, concurrency: int) -> "BoundaryStage":
        """This stage for ``compilations`` analysed by an executor running ``concurrency`` items at once."""
        return BoundaryStage(config_for_side_by_side(self.config, compilations, concurrency), self.build_dir)


def config_for_side_by_side(config: BoundaryConfig, compilations: int, concurrency: int) -> BoundaryConfig:
    """The config for ``compilations`` analysed by an executor running ``concurrency`` items at once: when
    several run side by side (about one per core), one single-threaded decoding process each is fastest, so
    an automatic ``decode_parts`` becomes 1; settings the user chose are kept."""
    if config.decode_parts == 0 and compilations > 1 and concurrency > 1:
        return dataclasses.replace(config, decode_parts=1, decode_threads=config.decode_threads or 1)
    return config
