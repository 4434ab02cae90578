"""openpifpaf (PifPaf, bottom-up) as the multi-person pose backend: COCO-17 in pixels.

Install: ``bash scripts/install_openpifpaf.sh`` (no wheel for Python 3.11; the script builds the
sdist against the venv's torch). Checkpoints, in the order they are tried:

1. a local file (``checkpoint=PATH``; the CLI's ``--pose-checkpoint PATH``), e.g. one of
   openpifpaf's released ``.pkl`` files or a model trained with ``openpifpaf.train``;
2. one of openpifpaf's names (``shufflenetv2k16``, ``shufflenetv2k30``, ``resnet50``, ...): taken
   from torch's hub cache (``<torch hub dir>/checkpoints/<file>``) or downloaded there once;
3. otherwise :class:`CheckpointUnavailableError`, whose text names the checkpoint, where it was
   looked for and how to supply it.

openpifpaf pickles whole model objects, which torch >= 2.6 refuses to unpickle by default
(``weights_only``); the checkpoint is a file the user chose or openpifpaf's own release, so it
is loaded with full unpickling, like openpifpaf does on the torch it was written for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import numpy as np

from tiktok_dm.model.atomic import atomic_path
from tiktok_dm.pose.backend import PoseBackend, checked_rgb_frame
from tiktok_dm.pose.sequence import NUM_COCO17_JOINTS, empty_detection
from tiktok_dm.pose.weights import download

logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = "shufflenetv2k16"
CHECKPOINT_OPTION = "--pose-checkpoint PATH"
INSTALL_HINT = (
    "openpifpaf is not installed: run `bash scripts/install_openpifpaf.sh` (it builds openpifpaf 0.13.11 "
    "from its sdist against the torch in .venv; there is no wheel for this Python)"
)
# torch.hub's rule: a file named "<name>-<hex>.<ext>" must have a sha256 starting with <hex>.
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")


class CheckpointUnavailableError(RuntimeError):
    """No usable openpifpaf checkpoint: not a file, not cached and not downloadable."""


def import_openpifpaf() -> ModuleType:
    try:
        import openpifpaf
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} (import failed: {error})") from error
    return openpifpaf


def checkpoint_urls() -> dict[str, str]:
    """openpifpaf's released checkpoints: name -> URL (those without a release are left out)."""
    openpifpaf = import_openpifpaf()
    return {name: url for name, url in openpifpaf.CHECKPOINT_URLS.items() if isinstance(url, str)}


def checkpoint_cache_path(url: str) -> Path:
    """Where torch (and openpifpaf) keep a downloaded checkpoint: <torch hub dir>/checkpoints/<file>."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _looks_like_path(checkpoint: str) -> bool:
    return os.sep in checkpoint or "/" in checkpoint or checkpoint.endswith((".pkl", ".pt", ".pth", ".epoch"))


def resolve_checkpoint(checkpoint: str | os.PathLike = DEFAULT_CHECKPOINT, *, download: bool = True,
                       urls: dict[str, str] | None = None) -> Path:
    """The local file holding ``checkpoint`` (a path, or an openpifpaf checkpoint name that is
    cached or, with ``download``, fetched into the cache); raises
    :class:`CheckpointUnavailableError` saying how to supply it otherwise."""
    text = os.fspath(checkpoint)
    if not text:
        raise CheckpointUnavailableError(f"no openpifpaf checkpoint given: pass one with {CHECKPOINT_OPTION}")
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if _looks_like_path(text):
        raise CheckpointUnavailableError(
            f"openpifpaf checkpoint file not found: {path}. Pass an existing checkpoint file with "
            f"{CHECKPOINT_OPTION}, or an openpifpaf checkpoint name such as {DEFAULT_CHECKPOINT!r}")
    urls = checkpoint_urls() if urls is None else urls
    if text not in urls:
        raise CheckpointUnavailableError(
            f"openpifpaf checkpoint {text!r} is neither a file nor one of openpifpaf's released checkpoints "
            f"({', '.join(sorted(urls))}). Pass a local checkpoint file with {CHECKPOINT_OPTION}")
    url = urls[text]
    cached = checkpoint_cache_path(url)
    if cached.is_file():
        return cached
    how_to_supply = (f"Supply it yourself: pass a local copy with {CHECKPOINT_OPTION}, or download {url} "
                     f"on a machine with internet access and copy it to {cached}")
    if not download:
        raise CheckpointUnavailableError(
            f"openpifpaf checkpoint {text!r} is not in the cache ({cached}) and downloading is off. {how_to_supply}")
    try:
        _download(url, cached)
    except (OSError, ValueError) as error:  # URLError/HTTPError/timeouts are OSErrors
        raise CheckpointUnavailableError(
            f"openpifpaf checkpoint {text!r} is not in the cache ({cached}) and downloading it from {url} failed "
            f"({type(error).__name__}: {error}). {how_to_supply}") from error
    return cached


def _download(url: str, target: Path) -> None:
    """Fetch ``url`` into ``target`` atomically, checking the hash its file name carries."""
    match = _HASH_IN_NAME.search(os.path.basename(url))
    download(url, target, what="openpifpaf checkpoint", sha256_prefix=match.group(1) if match else None)


@contextlib.contextmanager
def _full_unpickling() -> Iterator[None]:
    """Let openpifpaf's own torch.load() unpickle model objects (torch >= 2.6 defaults to
    weights_only). The switch is torch's environment variable, read at each load: it is set only
    for this block and restored after, so other code keeps the safe default."""
    name = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
    saved = os.environ.get(name)
    os.environ[name] = "1"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=f".*{name}.*")
            yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


@contextlib.contextmanager
def _factory_settings(openpifpaf: ModuleType, *, base_name: str | None, checkpoint: str | None) -> Iterator[None]:
    """openpifpaf configures its network factory through class attributes; set them for one
    construction and put the previous values back."""
    factory = openpifpaf.network.Factory
    saved = factory.base_name, factory.checkpoint
    factory.base_name, factory.checkpoint = base_name, checkpoint
    try:
        yield
    finally:
        factory.base_name, factory.checkpoint = saved


def write_untrained_checkpoint(path: str | os.PathLike, base_name: str = DEFAULT_CHECKPOINT) -> Path:
    """Save a randomly initialised ``base_name`` network with COCO keypoint heads the way
    ``openpifpaf.train`` saves checkpoints ({'model', 'epoch', 'meta'}). It loads like a real
    checkpoint but detects nothing meaningful: for tests of the loading and decoding path."""
    import torch

    openpifpaf = import_openpifpaf()
    head_metas = openpifpaf.plugins.coco.CocoKp().head_metas
    with _factory_settings(openpifpaf, base_name=base_name, checkpoint=None):
        model, _ = openpifpaf.network.Factory().factory(head_metas=head_metas)
    target = Path(path)
    with atomic_path(target) as tmp:
        torch.save({"model": model, "epoch": 0, "meta": {"base_name": base_name, "untrained": True}}, tmp)
    return target


class OpenPifPafPoseBackend(PoseBackend):
    """openpifpaf 0.13 Predictor on single frames: every person, COCO-17 (x, y, confidence) in
    pixels of the input frame. Joints it did not find (confidence 0) get x = y = NaN.

    No state between frames (tracking is done afterwards, on the whole video).
    """

    name = "openpifpaf"

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        *,
        download: bool = True,
        device: str = "auto",
        long_edge: int | None = None,
        torch_threads: int | None = None,
    ) -> None:
        """``checkpoint``: a file or an openpifpaf name (default ``shufflenetv2k16``);
        ``long_edge``: rescale frames so their long side is this many pixels before the network
        (None: native size; keypoints always come back in input-frame pixels);
        ``torch_threads``: if given, torch.set_num_threads (process-wide); ``device``: a torch device, or "auto"
        (CUDA when torch sees a GPU, else the CPU)."""
        openpifpaf = import_openpifpaf()
        import torch

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"

        if long_edge is not None and long_edge < 16:
            raise ValueError(f"long_edge must be >= 16 pixels (or None), got {long_edge}")
        if torch_threads is not None:
            torch.set_num_threads(int(torch_threads))
        self.checkpoint_path = resolve_checkpoint(checkpoint or DEFAULT_CHECKPOINT, download=download)
        # Predictor reads its settings from class attributes: a subclass keeps ours local.
        predictor_class = type("TiktokDmPredictor", (openpifpaf.Predictor,), {
            "device": torch.device(device), "long_edge": long_edge, "batch_size": 1, "loader_workers": 0,
        })
        with _factory_settings(openpifpaf, base_name=None, checkpoint=str(self.checkpoint_path)), _full_unpickling():
            try:
                self._predictor: Any = predictor_class(checkpoint=str(self.checkpoint_path))
            except Exception as error:  # openpifpaf raises bare Exceptions and unpickling errors
                raise CheckpointUnavailableError(
                    f"openpifpaf could not load the checkpoint {self.checkpoint_path}: {type(error).__name__}: "
                    f"{error}. Pass an openpifpaf checkpoint file with {CHECKPOINT_OPTION}") from error
        self._closed = False

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        if self._closed:
            raise ValueError("OpenPifPafPoseBackend is closed; create a new one")
        frame_rgb = checked_rgb_frame(frame_rgb)
        predictions, _, _ = self._predictor.numpy_image(frame_rgb)
        return annotations_to_coco17(predictions)

    def close(self) -> None:
        self._predictor = None
        self._closed = True


def annotations_to_coco17(annotations: list[Any]) -> np.ndarray:
    """openpifpaf Annotations (``.data`` = [17, 3] x, y, confidence) -> float32 [persons, 17, 3];
    joints with confidence 0 (not found) get x = y = NaN, so nothing reads them as a position."""
    if not annotations:
        return empty_detection()
    persons = []
    for annotation in annotations:
        data = np.asarray(annotation.data, dtype=np.float32)
        if data.shape != (NUM_COCO17_JOINTS, 3):
            raise ValueError(f"expected a COCO-17 annotation [17, 3], got shape {data.shape} "
                             "(not a cocokp checkpoint?)")
        data = data.copy()
        data[data[:, 2] <= 0, :2] = np.nan
        data[:, 2] = np.clip(data[:, 2], 0.0, 1.0)
        persons.append(data)
    return np.stack(persons)

