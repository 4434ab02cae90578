"""From a config's data section to seeded, resumable batches.

- ``resolve_spec`` picks the source (a tiktok-dm build or the official lists) and the visual features.
- ``SeededSegments`` makes every item a pure function of (seed, epoch, index): the wrapped dataset's augmentation
  RNG is re-seeded per item, so worker count and resumption do not change what a step sees.
- ``EpochBatchSampler`` yields the batches of an infinite sequence of seeded epoch permutations from any global
  step, sharded by rank for DDP (every rank gets the same number of batches per epoch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from d2m_train.data.hf import segments_from_hf_dataset
from d2m_train.data.segments import D2MSegmentDataset, SegmentSpec, read_official_lists, segments_from_build
from d2m_train.data.visual import attach_features, extract_build_features

# AIST++ genre codes in the column order of the official *_genre.npy one-hot arrays.
AIST_GENRES = ("BR", "PO", "LO", "MH", "LH", "HO", "WA", "KR", "JS", "JB")


def resolve_spec(data, split: str, features_dir: str | Path | None = None) -> SegmentSpec:
    """The segments of ``split`` named by a ``DataConfig``; frame_stats features are computed when missing."""
    if data.build_dir:
        spec = segments_from_build(data.build_dir, split)
        if data.visual == "precomputed":
            raise ValueError("a tiktok-dm build has no precomputed visual features: use data.visual frame_stats "
                             "(offline default) or none ('w/o V')")
        if data.visual in ("frame_stats", "auto"):
            if features_dir is None:
                raise ValueError("frame_stats features need a features folder")
            extract_build_features(data.build_dir, features_dir)
            spec = attach_features(spec, features_dir)
        return spec
    if data.hf_dataset:
        if data.visual != "none":
            raise ValueError(f"the Hugging Face dataset has no visual features and no clip videos: set data.visual none "
                             f"(--set data.visual=none, the paper's 'w/o V'), or train from the build folder "
                             f"(--data BUILD) for frame_stats features; got data.visual {data.visual!r}")
        if data.dataset != "tiktok":
            raise ValueError("data.hf_dataset holds TikTok segments: set data.dataset tiktok")
        return segments_from_hf_dataset(data.hf_dataset, split, data.hf_cache_dir)
    if data.official_lists:
        if data.visual == "frame_stats":
            raise ValueError("the official lists name precomputed I3D arrays: use data.visual precomputed or none")
        return read_official_lists(data.official_lists, data.dataset, split, data.root)
    raise ValueError("no data source: give --data BUILD_DIR (a tiktok-dm build), --hf-dataset BUILD/dataset or "
                     "--official-lists DIR")


def genre_index(name: str) -> int:
    """AIST++ genre of a segment name such as ``gBR_sBM_c01_d04_mBR0_ch01_seg1``."""
    code = name[1:3]
    if not name.startswith("g") or code not in AIST_GENRES:
        raise ValueError(f"segment {name!r} does not start with an AIST++ genre (g{'/g'.join(AIST_GENRES)})")
    return AIST_GENRES.index(code)


class SeededSegments:
    """Items keyed by (epoch, index); adds ``genre`` (AIST++ names) when ``with_genre``."""

    def __init__(self, dataset: D2MSegmentDataset, seed: int, with_genre: bool = False):
        self.dataset, self.seed, self.with_genre = dataset, seed, with_genre

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int] | int) -> dict:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        self.dataset.rng = np.random.default_rng([self.seed, epoch, index])
        item = self.dataset[index]
        if self.with_genre:
            item["genre"] = genre_index(item["name"])
        return item


class EpochBatchSampler:
    def __init__(self, size: int, batch_size: int, seed: int, start_step: int = 0, rank: int = 0,
                 world_size: int = 1, shuffle: bool = True):
        self.size, self.batch_size, self.seed, self.start_step = size, batch_size, seed, start_step
        self.rank, self.world_size, self.shuffle = rank, world_size, shuffle
        self.batches_per_epoch = (size // world_size) // batch_size
        if self.batches_per_epoch < 1:
            raise ValueError(f"{size} segments cannot fill one batch of {batch_size} per rank on {world_size} "
                             "rank(s): lower train.batch_size")

    def epoch_of(self, step: int) -> int:
        return step // self.batches_per_epoch

    def __iter__(self):
        step = self.start_step
        while True:
            epoch, position = divmod(step, self.batches_per_epoch)
            order = (np.random.default_rng([self.seed, epoch]).permutation(self.size) if self.shuffle
                     else np.arange(self.size))
            mine = order[self.rank::self.world_size]
            for batch in range(position, self.batches_per_epoch):
                yield [(epoch, int(i)) for i in mine[batch * self.batch_size:(batch + 1) * self.batch_size]]
                step += 1
