"""``detect_clips``: one compilation video in, clip proposals (and the evidence for each) out."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from tiktok_dm.boundaries.audio import AudioFeatures, audio_features
from tiktok_dm.boundaries.config import BoundaryConfig
from tiktok_dm.boundaries.decode import KeyframeIndex, VideoDecoder, analysis_size, decode_audio, time_parts
from tiktok_dm.boundaries.fusion import assemble, dropped_spans, judge, propose
from tiktok_dm.boundaries.result import BoundaryResult
from tiktok_dm.boundaries.visual import FrameDescriptors, compute_signals, describe_frames
from tiktok_dm.media import MediaInfo, probe
from tiktok_dm.model.status import ErrorKind, StageError

log = logging.getLogger(__name__)


def detect_clips(video_path: str | Path, config: BoundaryConfig | None = None) -> BoundaryResult:
    """Propose the clips of a compilation video.

    Decodes the picture once (small frames, one per 1/analysis_fps s) and the sound once (mono,
    low rate), in parallel. Raises StageError for a file that is not readable video (missing,
    corrupt, audio only, no frames). A video without sound is segmented on the picture alone,
    with a warning.
    """
    # The matrices here are small (mel filters, thumbnails): BLAS threads never pay, and OpenBLAS's
    # idle threads spin after each call, which cost ~40 % of this function's own CPU (measured on the
    # 16 benchmark compilations) and starve the other videos' decoders when several run at once.
    with threadpool_limits(limits=1, user_api="blas"):
        return _detect_clips(Path(video_path), config or BoundaryConfig())


def _detect_clips(path: Path, config: BoundaryConfig) -> BoundaryResult:
    if not path.is_file():
        raise StageError(f"{path}: no such file", ErrorKind.UNREADABLE)
    try:
        info = probe(path)
    except StageError as error:
        raise StageError(f"{path.name} is not a readable video: {error}", ErrorKind.UNREADABLE) from error
    if not info.has_video:
        raise StageError(f"{path.name} has no video stream (audio only?): clip boundaries need the picture",
                         ErrorKind.UNREADABLE)
    if info.duration_s <= 0:
        raise StageError(f"{path.name} is 0 s long: nothing to segment", ErrorKind.UNREADABLE)
    warnings = []
    if not info.has_audio:
        warnings.append(f"{path.name} has no audio stream: boundaries are decided on the picture alone, so "
                        "internal camera cuts cannot be told from clip boundaries")
        log.warning("%s", warnings[-1])
    with ThreadPoolExecutor(1) as sound_thread:
        # The sound is decoded and analysed while the picture decodes: on the cores, not after them.
        sound = sound_thread.submit(_sound_evidence, path, config) if info.has_audio else None
        descriptors, fine, fine_fps = _describe_picture(path, info, config)
        features, problem = sound.result() if sound is not None else (None, None)
    if problem:
        warnings.append(problem)
        log.warning("%s", warnings[-1])
    if len(descriptors) == 0:
        raise StageError(f"{path.name} has no decodable video frames (0 s of picture)", ErrorKind.UNREADABLE)
    duration = min(info.duration_s, len(descriptors) / config.analysis_fps)

    visual = compute_signals(descriptors, fine, fine_fps, config)
    spans = dropped_spans(visual, descriptors.luma, duration, config)
    candidates = judge(propose(visual, spans, config), spans, features, config, visual)
    clips, dropped, candidates = assemble(duration, candidates, spans, config)
    for candidate in candidates:
        log.debug("%s %.2f s: %s", path.name, candidate.time_s, candidate.reason)
    return BoundaryResult(path, duration, clips, candidates, dropped, features is not None, config, visual, features,
                          warnings)


def _sound_evidence(path: Path, config: BoundaryConfig) -> tuple[AudioFeatures | None, str | None]:
    """The sound's features, or None and why the boundaries must be decided on the picture alone."""
    try:
        samples = decode_audio(path, config.audio_sample_rate)
    except StageError as error:
        return None, f"{error}; deciding on the picture alone"
    if len(samples) < config.audio_sample_rate * 0.1:
        return None, f"{path.name}: the audio stream is (nearly) empty; deciding on the picture alone"
    return audio_features(samples, config.audio_sample_rate), None


def _describe_picture(path: Path, info: MediaInfo, config: BoundaryConfig) -> tuple[FrameDescriptors, np.ndarray, float]:
    """Descriptors of every analysis frame and the fine luma stream, the time parts decoded at once."""
    size = analysis_size(info, config.analysis_long_side)
    wanted = config.decode_parts or _usable_cores()
    parts = time_parts(info.duration_s, config.analysis_fps, wanted, config.decode_min_part_s)
    if len(parts) > 1:
        with KeyframeIndex(path) as keyframes:
            parts = time_parts(info.duration_s, config.analysis_fps, wanted, config.decode_min_part_s, keyframes.near)
    threads = config.decode_threads or (1 if len(parts) > 1 else 0)
    decoders = [VideoDecoder(path, config.analysis_fps, size, config.fast_decode, threads=threads, part=part)
                for part in parts]
    with ThreadPoolExecutor(len(decoders)) as pool:
        described = list(pool.map(lambda decoder: describe_frames(decoder.blocks(), config.analysis_fps, config),
                                  decoders))
    for index, (part, descriptors) in enumerate(zip(parts[:-1], described)):
        if len(descriptors) < part.frame_count:  # the container's duration promised more frames than there are
            log.warning("%s: part %d of the picture ends after %d of %d frames; later parts are ignored",
                        path.name, index + 1, len(descriptors), part.frame_count)
            described, decoders = described[: index + 1], decoders[: index + 1]
            break
    return (FrameDescriptors.concatenate(described), np.concatenate([decoder.fine for decoder in decoders]),
            decoders[0].fine_fps)


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may run on
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
