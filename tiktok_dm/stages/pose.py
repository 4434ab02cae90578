"""Pose stage: 2D skeletons of every frame of a cut clip, tracked into dancers, saved as
poses/<clip_id>.npz, with the clip's pose QA figures in the stage record."""

from __future__ import annotations

import dataclasses
from typing import Any

from tiktok_dm.config import BuildConfig, PoseConfig
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.outputs import PoseOutput
from tiktok_dm.model.status import ErrorKind, StageError
from tiktok_dm.stages.base import Stage

# Backends that find at most one person (QA then words a dancer-count mismatch accordingly).
SINGLE_PERSON_BACKENDS = frozenset({"mediapipe"})


@dataclasses.dataclass(frozen=True)
class PoseItem:
    clip_id: str
    video_path: str  # relative to the build directory
    cut_input_hash: str = ""  # the cut record's input hash: the clip video this pose was detected on
    num_dancers: int | None = None  # the manifest's count, checked by pose QA (None: not checked)

    def identity(self) -> str:
        return repr((self.clip_id, self.video_path, self.cut_input_hash, self.num_dancers))


def backend_kwargs(config: PoseConfig) -> dict[str, Any]:
    """Keyword arguments for get_backend from the pose config (openpifpaf: its checkpoint)."""
    if config.backend == "openpifpaf":
        return {"checkpoint": config.checkpoint} if config.checkpoint else {}
    return {}


class PoseStage(Stage[PoseItem, PoseOutput]):
    output_type = PoseOutput

    config: PoseConfig

    @classmethod
    def from_config(cls, config: BuildConfig, build_dir: BuildDir) -> "PoseStage":
        return cls(config.pose, build_dir)

    def key(self, item: PoseItem) -> str:
        return item.clip_id

    def run(self, item: PoseItem) -> PoseOutput:
        # pose backends import heavy libraries
        from tiktok_dm.pose import estimate_video, get_backend
        from tiktok_dm.pose.qa import QAThresholds, pose_qa

        # One backend per clip: mediapipe graphs hold tracking state and cannot cross processes.
        with get_backend(self.config.backend, **backend_kwargs(self.config)) as backend:
            sequence = estimate_video(self.build_dir.absolute(item.video_path), backend, max_fps=self.config.max_fps)
        coverage = sequence.person_coverage(self.config.min_visible_joints, self.config.min_joint_confidence)
        frames = int(sequence.keypoints.shape[0])
        if coverage == 0 and self.config.require_person:
            raise StageError(f"clip {item.clip_id}: no person detected in any of {frames} processed frames "
                             f"({self.config.backend} backend)", ErrorKind.NO_PERSON)
        qa = pose_qa(sequence, item.num_dancers,
                     QAThresholds(min_visible_joints=self.config.min_visible_joints,
                                  min_conf=self.config.min_joint_confidence),
                     single_person_backend=self.config.backend in SINGLE_PERSON_BACKENDS)
        target = self.build_dir.poses / f"{item.clip_id}.npz"
        sequence.save(target)
        return PoseOutput(
            poses=self.build_dir.relative(target),
            backend=self.config.backend,
            backend_version=_package_version(self.config.backend),
            # openpifpaf: the checkpoint file it loaded; mediapipe's model ships inside its package.
            checkpoint=str(backend.checkpoint_path or f"{self.config.backend} bundled model"),
            frames=frames,
            persons=int(sequence.num_persons),
            person_coverage=float(coverage),
            mean_confidence=float(sequence.mean_confidence()),
            num_tracks=qa.num_tracks,
            main_track=qa.main_track_id,
            pose_flags=tuple(qa.flags),
            pose_qa=qa.to_dict(),
        )


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return name
