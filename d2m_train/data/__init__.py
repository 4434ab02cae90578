"""Datasets of 2-s D2M segments: the official preprocessed layout and tiktok-dm's Hugging Face export."""

from d2m_train.data.segments import (D2MSegmentDataset, SegmentFiles, SegmentSpec, read_official_lists,
                                     segments_from_build)

__all__ = ["D2MSegmentDataset", "SegmentFiles", "SegmentSpec", "read_official_lists", "segments_from_build"]
