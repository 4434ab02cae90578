"""TikTok segments from the Hugging Face dataset that ``tiktok-dm build`` publishes (its ``segments`` config).

The dataset holds each 2-s segment's audio (file bytes) and motion array in parquet. Training reads
files, so the split is unpacked once into a cache folder in the official layout
(``audio_s2/NAME.wav``, ``motion_s2/NAME.npy``); a re-run reuses what is there, and every file is
written to a temporary and renamed, so an interrupted unpacking leaves no half file behind.

The cache is keyed by the dataset's content: for a Hub id (``ORG/NAME`` or ``ORG/NAME@REVISION``, a
branch, tag or commit) the commit the revision resolves to, so a re-publish under the same tag or branch is
read anew and a pinned commit is never read twice; for a folder its parquet files' paths, sizes and
modification times. Not the name: ``datasets`` itself caches a local folder by its name and config
(datasets 5.2: two folders called ``dataset`` share one cache entry, and a rebuilt folder reads the old
rows), so its arrow cache is kept inside ours.
The dataset has no visual features (``data.visual none``, the paper's "w/o V").
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
from pathlib import Path

import numpy as np

from d2m_train.data.segments import MOTION_SHAPES, SegmentFiles, SegmentSpec
from tiktok_dm.model.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

CONFIG_NAME = "segments"
REQUIRED_COLUMNS = ("segment", "audio", "motion")
DEFAULT_CACHE = Path.home() / ".cache" / "tiktok_dm" / "hf_segments"


@dataclasses.dataclass(frozen=True)
class HubDataset:
    repo_id: str
    revision: str  # as given (a branch, tag or commit)
    commit: str  # what it resolved to when read

    @classmethod
    def resolve(cls, source: str) -> "HubDataset":
        """``ORG/NAME[@REVISION]`` (default revision main), its revision resolved to a commit on the Hub."""
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError

        repo_id, _, revision = source.partition("@")
        revision = revision or "main"
        try:
            commit = HfApi().dataset_info(repo_id, revision=revision).sha
        except (HfHubHTTPError, OSError) as error:
            raise ValueError(f"{source}: the Hub does not give revision {revision!r} of dataset {repo_id} "
                             f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})") from error
        return cls(repo_id, revision, commit)


def is_local(source: str) -> bool:
    return Path(source).expanduser().is_dir() or source.startswith((".", "/", "~"))


def content_key(source: str | HubDataset) -> str:
    """A Hub dataset: its id and commit; a local folder: its absolute path and every parquet file's path, size and
    mtime."""
    if isinstance(source, HubDataset):
        return hashlib.sha1(f"{source.repo_id}@{source.commit}".encode()).hexdigest()[:16]
    local = Path(source).expanduser()
    stamp = [str(local.resolve())] + [f"{p.relative_to(local)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                                      for p in sorted(local.rglob("*.parquet"))]
    return hashlib.sha1("\n".join(stamp).encode()).hexdigest()[:16]


def segments_from_hf_dataset(source: str, split: str, cache_dir: str | Path | None = None,
                             progress: bool = True) -> SegmentSpec:
    """The ``split`` of ``source``'s segments config as files under ``cache_dir/<content key>`` (unpacked when missing).

    ``source`` is a dataset folder written by ``tiktok-dm build`` (``BUILD/dataset``) or a Hub id;
    errors name the dataset, the split or the segment at fault.
    """
    hub = None if is_local(source) else HubDataset.resolve(source)
    if hub is not None:
        log.info("%s: revision %s is commit %s", hub.repo_id, hub.revision, hub.commit)
    cache = Path(cache_dir or DEFAULT_CACHE) / content_key(hub or source)
    rows = _load_split(source, hub, split, cache / "arrow")
    (cache / "audio_s2").mkdir(parents=True, exist_ok=True)
    (cache / "motion_s2").mkdir(parents=True, exist_ok=True)
    expected = MOTION_SHAPES["tiktok"]
    segments, unpacked = [], 0
    from tqdm.auto import tqdm

    for index in tqdm(range(len(rows)), desc=f"unpack {split} segments", unit="seg", disable=not progress):
        row = rows[index]
        name = str(row["segment"])
        audio_file = row["audio"] or {}
        suffix = Path(audio_file.get("path") or "x.wav").suffix or ".wav"
        audio_path, motion_path = cache / "audio_s2" / f"{name}{suffix}", cache / "motion_s2" / f"{name}.npy"
        motion = np.asarray(row["motion"], dtype=np.float32)
        if motion.shape != expected:
            raise ValueError(f"{source} ({split}): segment {name} has motion of shape {motion.shape}, "
                             f"expected {expected} (60 frames x 25 joints x 3)")
        if not audio_file.get("bytes"):
            raise ValueError(f"{source} ({split}): segment {name} has no audio bytes")
        if not audio_path.is_file():
            atomic_write_bytes(audio_path, audio_file["bytes"])
            unpacked += 1
        if not motion_path.is_file():
            atomic_write_bytes(motion_path, _npy_bytes(motion))
        segments.append(SegmentFiles(name, audio_path, motion_path, None))
    log.info("%s (%s): %d segment(s), %d unpacked now into %s", source, split, len(segments), unpacked, cache)
    return SegmentSpec("tiktok", tuple(segments))


def _load_split(source: str, hub: HubDataset | None, split: str, arrow_cache: Path):
    import datasets

    local = Path(source).expanduser()
    if hub is None and not local.is_dir():
        raise FileNotFoundError(f"Hugging Face dataset folder {local} does not exist (tiktok-dm build writes "
                                "BUILD/dataset)")
    where = {"path": str(local)} if hub is None else {"path": hub.repo_id, "revision": hub.commit}
    try:
        available = datasets.get_dataset_split_names(config_name=CONFIG_NAME, **where)
    except Exception as error:  # datasets raises several types for a missing config or unreadable card
        raise ValueError(f"{source}: cannot read its {CONFIG_NAME!r} config ({type(error).__name__}: {error})") from error
    if split not in available:
        raise ValueError(f"{source}: no split {split!r} in its {CONFIG_NAME!r} config (splits: {sorted(available)})")
    table = datasets.load_dataset(name=CONFIG_NAME, split=split, cache_dir=str(arrow_cache), **where)
    missing = [column for column in REQUIRED_COLUMNS if column not in table.column_names]
    if missing:
        raise ValueError(f"{source} ({split}): the {CONFIG_NAME!r} config lacks column(s) {missing} "
                         f"(has {table.column_names})")
    return table.cast_column("audio", datasets.Audio(decode=False)).with_format("numpy", columns=["motion"],
                                                                                   output_all_columns=True)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
