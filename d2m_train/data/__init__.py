"""Datasets of 2-s D2M segments: the official preprocessed layout, a tiktok-dm build, and its Hugging Face export."""

from d2m_train.data.hf import segments_from_hf_dataset
from d2m_train.data.segments import (D2MSegmentDataset, SegmentFiles, SegmentSpec, read_official_lists,
                                     segments_from_build)

__all__ = ["D2MSegmentDataset", "SegmentFiles", "SegmentSpec", "read_official_lists", "segments_from_build",
           "segments_from_hf_dataset"]
