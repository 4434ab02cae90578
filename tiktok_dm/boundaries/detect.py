"""``detect_clips``: one compilation video in, clip proposals (and the evidence for each) out."""

from __future__ import annotations

import logging
from pathlib import Path

from threadpoolctl import threadpool_limits

from tiktok_dm.boundaries.audio import audio_features
from tiktok_dm.boundaries.config import BoundaryConfig
from tiktok_dm.boundaries.decode import BackgroundAudio, VideoDecoder, analysis_size
from tiktok_dm.boundaries.fusion import assemble, dropped_spans, judge, propose
from tiktok_dm.boundaries.result import BoundaryResult
from tiktok_dm.boundaries.visual import compute_signals, describe_frames
from tiktok_dm.media import probe
from tiktok_dm.records import StageError

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
        raise StageError(f"{path}: no such file")
    try:
        info = probe(path)
    except StageError as error:
        raise StageError(f"{path.name} is not a readable video: {error}") from error
    if not info.has_video:
        raise StageError(f"{path.name} has no video stream (audio only?): clip boundaries need the picture")
    if info.duration_s <= 0:
        raise StageError(f"{path.name} is 0 s long: nothing to segment")
    warnings = []
    background = BackgroundAudio(path, config.audio_sample_rate) if info.has_audio else None
    if background is None:
        warnings.append(f"{path.name} has no audio stream: boundaries are decided on the picture alone, so "
                        "internal camera cuts cannot be told from clip boundaries")
        log.warning("%s", warnings[-1])

    size = analysis_size(info, config.analysis_long_side)
    decoder = VideoDecoder(path, config.analysis_fps, size, config.fast_decode, threads=config.decode_threads)
    descriptors = describe_frames(decoder.blocks(), config.analysis_fps, config)
    samples = None
    if background is not None:
        try:
            samples = background.result()
        except StageError as error:
            warnings.append(f"{error}; deciding on the picture alone")
            log.warning("%s", warnings[-1])
    if len(descriptors) == 0:
        raise StageError(f"{path.name} has no decodable video frames (0 s of picture)")
    duration = min(info.duration_s, len(descriptors) / config.analysis_fps)

    visual = compute_signals(descriptors, decoder.fine, decoder.fine_fps, config)
    features = None
    if samples is not None:
        if len(samples) < config.audio_sample_rate * 0.1:
            warnings.append(f"{path.name}: the audio stream is (nearly) empty; deciding on the picture alone")
            log.warning("%s", warnings[-1])
        else:
            features = audio_features(samples, config.audio_sample_rate)

    spans = dropped_spans(visual, descriptors.luma, duration, config)
    candidates = judge(propose(visual, spans, config), spans, features, config)
    clips, dropped, candidates = assemble(duration, candidates, spans, config)
    for candidate in candidates:
        log.debug("%s %.2f s: %s", path.name, candidate.time_s, candidate.reason)
    return BoundaryResult(path, duration, clips, candidates, dropped, features is not None, config, visual, features,
                          warnings)
