"""Pose stage: 2D skeletons of every frame of a cut clip, tracked into dancers, saved as
poses/<clip_id>.npz, with the clip's pose QA figures in the stage record."""

from __future__ import annotations

import atexit
import dataclasses
import threading
from typing import TYPE_CHECKING, Any, Mapping

from tiktok_dm.config import BuildConfig, PoseConfig
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.outputs import PoseOutput
from tiktok_dm.model.status import ErrorKind, StageError
from tiktok_dm.stages.base import Stage

if TYPE_CHECKING:
    from tiktok_dm.pose.backend import PoseBackend

# Backends that find at most one person (QA then words a dancer-count mismatch accordingly).
SINGLE_PERSON_BACKENDS = frozenset({"mediapipe"})
# The package whose version a pose record names.
BACKEND_PACKAGES = {"landmarker": "mediapipe", "movenet": "ai-edge-litert"}
# Backends that run on a GPU where there is one.
GPU_BACKENDS = frozenset({"openpifpaf"})


@dataclasses.dataclass(frozen=True)
class PoseItem:
    clip_id: str
    video_path: str  # relative to the build directory
    cut_input_hash: str = ""  # the cut record's input hash: the clip video this pose was detected on
    num_dancers: int | None = None  # the manifest's count, checked by pose QA (None: not checked)

    def identity(self) -> str:
        return repr((self.clip_id, self.video_path, self.cut_input_hash, self.num_dancers))


def backend_for(config: PoseConfig, num_dancers: int | None) -> str:
    """The backend that poses a clip of ``num_dancers`` (the manifest's count; None: not given): ``multi_backend``
    where the manifest says more than one dancer (and one is set), else ``backend``."""
    if config.multi_backend and num_dancers is not None and num_dancers > 1:
        return config.multi_backend
    return config.backend


def backend_kwargs(config: PoseConfig, name: str | None = None) -> dict[str, Any]:
    """Keyword arguments for get_backend(``name``, default ``config.backend``) from the pose config (openpifpaf: its
    checkpoint; landmarker: its bundle, how many people, where it is fetched from; movenet: its model, input size,
    person score, where it is fetched from)."""
    name = name or config.backend
    checkpoint = {"checkpoint": config.checkpoint} if config.checkpoint and name == config.backend else {}
    if name == "openpifpaf":
        return {**checkpoint, "device": config.device}
    if name == "landmarker":
        return {**checkpoint, "num_poses": config.num_poses, "download": config.download_model,
                **({"url": config.landmarker_url} if config.landmarker_url else {})}
    if name == "movenet":
        return {**({"checkpoint": config.movenet_model} if config.movenet_model else checkpoint),
                "input_size": config.movenet_input_size, "min_person_score": config.movenet_min_person_score,
                "download": config.download_model, **({"url": config.movenet_url} if config.movenet_url else {})}
    return {}


# This worker's pose backends (a Ray worker process, or the local process; per thread), by settings: the model is
# loaded on the worker's first clip, not for every clip. estimate_video resets a backend's tracking state before each
# video.
_WORKER = threading.local()


def worker_backend(config: PoseConfig, name: str | None = None) -> "PoseBackend":
    """This worker's backend ``name`` (default ``config.backend``) with ``config``'s settings (built on first use,
    closed when the process exits)."""
    from tiktok_dm.pose import get_backend

    name = name or config.backend
    kwargs = backend_kwargs(config, name)
    key = (name, tuple(sorted(kwargs.items())))
    backends = _WORKER.__dict__.setdefault("backends", {})
    if key not in backends:
        if not backends:
            atexit.register(close_worker_backends)
        backends[key] = get_backend(name, **kwargs)
    return backends[key]


def close_worker_backends() -> None:
    """Close and forget this thread's pose backends (the next clip loads its model again)."""
    backends = _WORKER.__dict__.pop("backends", {})
    for backend in backends.values():
        backend.close()


class PoseStage(Stage[PoseItem, PoseOutput]):
    output_type = PoseOutput

    config: PoseConfig

    @classmethod
    def from_config(cls, config: BuildConfig, build_dir: BuildDir) -> "PoseStage":
        return cls(config.pose, build_dir)

    def key(self, item: PoseItem) -> str:
        return item.clip_id

    def ray_resources(self, cluster: Mapping[str, float]) -> dict[str, float]:
        """A share of a GPU per item where the backend runs on torch (openpifpaf) and the cluster has GPUs."""
        backends = {self.config.backend, self.config.multi_backend}
        if backends & GPU_BACKENDS and self.config.device in ("auto", "cuda") and cluster.get("GPU", 0):
            return {"num_gpus": self.config.gpu_per_item}
        return {}

    def run(self, item: PoseItem) -> PoseOutput:
        # pose backends import heavy libraries
        from tiktok_dm.pose import estimate_video
        from tiktok_dm.pose.qa import QAThresholds, pose_qa

        name = backend_for(self.config, item.num_dancers)
        backend = worker_backend(self.config, name)
        backend.expect_people((item.num_dancers or None) if self.config.num_poses_from_manifest else None)
        sequence = estimate_video(self.build_dir.absolute(item.video_path), backend, max_fps=self.config.max_fps,
                                  content=self.config.content)
        coverage = sequence.person_coverage(self.config.min_visible_joints, self.config.min_joint_confidence)
        frames = int(sequence.keypoints.shape[0])
        if coverage == 0 and self.config.require_person:
            raise StageError(f"clip {item.clip_id}: no person detected in any of {frames} processed frames "
                             f"({name} backend)", ErrorKind.NO_PERSON)
        qa = pose_qa(sequence, item.num_dancers,
                     QAThresholds(min_visible_joints=self.config.min_visible_joints,
                                  min_conf=self.config.min_joint_confidence),
                     single_person_backend=name in SINGLE_PERSON_BACKENDS)
        target = self.build_dir.poses / f"{item.clip_id}.npz"
        sequence.save(target)
        return PoseOutput(
            poses=self.build_dir.relative(target),
            backend=name,
            backend_version=_package_version(BACKEND_PACKAGES.get(name, name)),
            # openpifpaf, landmarker, movenet: the weights file it loaded; mediapipe's model ships inside its package.
            checkpoint=str(backend.checkpoint_path or f"{name} bundled model"),
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
