"""The dataset card through huggingface_hub's card tools, and `tiktok-dm publish` (its checks; the round trip to a
loopback Hub is in test_publish_hub.py)."""

from __future__ import annotations

import shutil

import pytest
import yaml
from click.testing import CliRunner

from tiktok_dm.cli import cli
from tiktok_dm.config import ExportConfig, SegmentConfig
from tiktok_dm.dataset.card import CARD_TEMPLATE, card_problems, render_card, size_category
from tiktok_dm.dataset.export import LICENSE_FILE, LICENSE_TEMPLATE, clips_features, segments_features
from tiktok_dm.dataset.publish import PublishError, plan_publish


@pytest.mark.parametrize("rows, category", [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (45_000, "10K<n<100K"),
                                            (3_000_000, "1M<n<10M"), (10 ** 13, "n>1T")])
def test_size_category_follows_the_row_count(rows, category):
    assert size_category(rows) == category


def _dataset_folder(tmp_path, segments_rows=1500):
    """A build's dataset folder as export writes it (card, licence, one shard a config and split)."""
    folder = tmp_path / "build" / "dataset"
    features = {"clips": clips_features(2, 22050), "segments": segments_features(SegmentConfig(), 75)}
    sizes = {"clips": {"train": 40, "test": 5}, "segments": {"train": segments_rows - 100, "test": 100}}
    nbytes = {name: {"train": 1000, "test": 100} for name in features}
    figures = {"num_clips": 45, "num_segments": segments_rows}
    (folder).mkdir(parents=True)
    (folder / "README.md").write_text(render_card(features, sizes, nbytes, ExportConfig(), figures))
    shutil.copy(LICENSE_TEMPLATE, folder / LICENSE_FILE)
    for name in features:
        (folder / "data" / name).mkdir(parents=True)
        for split in ("train", "test"):
            (folder / "data" / name / f"{split}-00000-of-00001.parquet").write_bytes(b"PAR1")
    return folder


def _header(folder):
    return yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])


def test_the_card_says_what_the_hub_needs(tmp_path):
    folder = _dataset_folder(tmp_path)
    header = _header(folder)
    assert header["size_categories"] == ["1K<n<10K"]  # from the larger config's 1500 rows, not hard-coded
    assert header["license"] == "other" and header["license_name"] and header["license_link"] == LICENSE_FILE
    assert "text-to-audio" not in header["task_categories"] and header["task_categories"]
    assert header["extra_gated_prompt"] and any(kind == "checkbox" for kind in header["extra_gated_fields"].values())
    assert [c["config_name"] for c in header["configs"]] == ["clips", "segments"]
    body = (folder / "README.md").read_text()
    assert body.count("| `song_source` |") == 1 and body.count("An empty `song_id` is filled") == 1
    assert card_problems(folder) == []


def test_the_repository_card_is_the_template():
    """DATASET_CARD.md (what a reader of the repository sees) and the template the build fills are one text."""
    assert (CARD_TEMPLATE.parents[2] / "DATASET_CARD.md").read_text() == CARD_TEMPLATE.read_text()


def test_card_problems_name_what_is_missing(tmp_path):
    folder = _dataset_folder(tmp_path)
    (folder / LICENSE_FILE).unlink()
    (folder / "data" / "segments" / "test-00000-of-00001.parquet").unlink()
    text = (folder / "README.md").read_text().replace("size_categories:\n- 1K<n<10K", "size_categories:\n- tiny")
    (folder / "README.md").write_text(text.replace("extra_gated_prompt:", "gated_prompt_was:"))
    problems = "\n".join(card_problems(folder))
    assert "license_link LICENSE.md is not a file" in problems
    assert "'segments', split 'test': no file matches data/segments/test-*.parquet" in problems
    assert "size_categories ['tiny']" in problems and "gated-access" in problems


def test_dry_run_lists_the_files_and_needs_no_token(tmp_path, monkeypatch):
    folder = _dataset_folder(tmp_path)
    (folder / "notes.txt").write_text("not published")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["publish", str(folder.parent), "--repo-id", "me/tiktok-dm", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "data/segments/train-00000-of-00001.parquet" in result.output and "LICENSE.md" in result.output
    assert "notes.txt" not in result.output and "6 file(s)" in result.output


def test_publish_refuses_a_bad_card_or_repo_id_before_any_request(tmp_path):
    folder = _dataset_folder(tmp_path)
    with pytest.raises(PublishError, match="not ORG/NAME"):
        plan_publish(folder.parent, "no-slash")
    (folder / LICENSE_FILE).unlink()
    result = CliRunner().invoke(cli, ["publish", str(folder.parent), "--repo-id", "me/tiktok-dm"])
    assert result.exit_code == 2 and "license_link LICENSE.md is not a file" in result.stderr
    empty = CliRunner().invoke(cli, ["publish", str(tmp_path / "nothing"), "--repo-id", "me/tiktok-dm", "--dry-run"])
    assert empty.exit_code == 2 and "no dataset folder" in empty.stderr
