"""Bad input to the Hugging Face dataset loader: each error names the dataset, the split or the segment.
(The happy path, on the dataset a real build publishes, is in test_d2m_smoke.py.)"""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from d2m_train.config import DataConfig
from d2m_train.data.hf import segments_from_hf_dataset
from d2m_train.data.loading import resolve_spec

CARD = """---
configs:
- config_name: segments
  data_files:
  - split: train
    path: data/segments/train-*.parquet
---
"""


def wav_bytes() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(44100, np.float32), 22050, format="WAV")
    return buffer.getvalue()


def write_dataset(folder, motion_shape=(60, 75), with_motion=True):
    from datasets import Array2D, Audio, Dataset, Features, Value

    columns = {"segment": Value("string"), "audio": Audio(sampling_rate=22050)}
    values = {"segment": ["000000_0_0_seg1"], "audio": [{"bytes": wav_bytes(), "path": "000000_0_0_seg1.wav"}]}
    if with_motion:
        columns["motion"] = Array2D(shape=motion_shape, dtype="float32")
        values["motion"] = [np.zeros(motion_shape, np.float32)]
    (folder / "data" / "segments").mkdir(parents=True)
    Dataset.from_dict(values, features=Features(columns)).to_parquet(
        str(folder / "data" / "segments" / "train-00000-of-00001.parquet"))
    (folder / "README.md").write_text(CARD)
    return folder


def test_a_valid_dataset_unpacks(tmp_path):
    spec = segments_from_hf_dataset(str(write_dataset(tmp_path / "ds")), "train", tmp_path / "cache", progress=False)
    assert [s.name for s in spec.segments] == ["000000_0_0_seg1"]
    assert np.load(spec.segments[0].motion).shape == (60, 75) and sf.info(spec.segments[0].audio).frames == 44100


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        segments_from_hf_dataset(str(tmp_path / "nowhere"), "train", tmp_path / "cache")


def test_unknown_split_lists_the_splits(tmp_path):
    with pytest.raises(ValueError, match=r"no split 'test'.*\['train'\]"):
        segments_from_hf_dataset(str(write_dataset(tmp_path / "ds")), "test", tmp_path / "cache")


def test_wrong_motion_shape_names_the_segment(tmp_path):
    with pytest.raises(ValueError, match=r"000000_0_0_seg1 has motion of shape \(60, 74\)"):
        segments_from_hf_dataset(str(write_dataset(tmp_path / "ds", (60, 74))), "train", tmp_path / "cache",
                                 progress=False)


def test_missing_column_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['motion'\]"):
        segments_from_hf_dataset(str(write_dataset(tmp_path / "ds", with_motion=False)), "train", tmp_path / "cache")


def test_folder_without_segments_config(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "README.md").write_text("no card here\n")
    with pytest.raises(ValueError, match="cannot read its 'segments' config"):
        segments_from_hf_dataset(str(tmp_path / "ds"), "train", tmp_path / "cache")


def test_config_demands_w_o_v_and_one_source(tmp_path):
    with pytest.raises(ValueError, match="set data.visual none"):
        resolve_spec(DataConfig(hf_dataset=str(tmp_path)), "train")
    with pytest.raises(ValueError, match="one data source"):
        DataConfig(hf_dataset=str(tmp_path), build_dir=str(tmp_path))
