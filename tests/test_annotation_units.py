"""Label Studio conversions and the merge, on exports written here (the server tests are in test_annotation_server.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from annotation.client import AnnotationError
from annotation.pull import (PullReport, keep_versioned_copy, latest_annotations, merge_compilation_annotations,
                             parse_compilation)
from annotation.push import local_files_url
from annotation.timeline import frames_to_seconds, seconds_to_frames
from tiktok_dm.model.manifest import ClipSpec

LABELS = {"clips": {"clip"}, "song_id": set(), "num_dancers": set(), "usable": {"usable", "unusable"}, "notes": set()}


def test_frames_round_trip_on_frame_boundaries():
    assert seconds_to_frames(0.0, 3.3, 30) == (1, 99)
    assert frames_to_seconds(1, 99, 30) == (0.0, 3.3)
    assert frames_to_seconds(*seconds_to_frames(5.5, 9.0, 30), 30) == (5.5, 9.0)
    with pytest.raises(ValueError, match="frame rate must be positive"):
        seconds_to_frames(0, 1, 0)


def test_media_outside_the_document_root_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    assert local_files_url(root / "build" / "a b.mp4", root) == "/data/local-files/?d=build/a%20b.mp4"
    with pytest.raises(AnnotationError, match="outside the Label Studio document root"):
        local_files_url(tmp_path / "elsewhere.mp4", root)


def _region(region_id, start, end, song=None, dancers=None, usable=None, label="clip"):
    result = [{"id": region_id, "from_name": "clips", "to_name": "video", "type": "timelinelabels",
               "value": {"ranges": [{"start": start, "end": end}], "timelinelabels": [label]}}]
    if song:
        result.append({"id": region_id, "from_name": "song_id", "type": "textarea", "value": {"text": [song]}})
    if dancers is not None:
        result.append({"id": region_id, "from_name": "num_dancers", "type": "number", "value": {"number": dancers}})
    if usable:
        result.append({"id": region_id, "from_name": "usable", "type": "choices", "value": {"choices": [usable]}})
    return result


def _manifest():
    return pd.DataFrame([
        {"compilation_id": "c0", "url": "http://h/c0.mp4", "clip_id": "a", "start_s": "0.000000", "end_s": "3.000000",
         "song_id": "s1", "num_dancers": "1", "keep": "x"},
        {"compilation_id": "c0", "url": "http://h/c0.mp4", "clip_id": "b", "start_s": "3.000000", "end_s": "6.000000",
         "song_id": "s2", "num_dancers": "", "keep": "y"},
        {"compilation_id": "c1", "url": "http://h/c1.mp4", "clip_id": "c", "start_s": "0.000000", "end_s": "2.000000",
         "song_id": "s3", "num_dancers": "1", "keep": "z"},
    ])


def test_merge_applies_exactly_what_the_annotator_did():
    task = {"id": 1, "data": {"task_key": "compilation:c0", "compilation_id": "c0", "fps": 30}}
    result = (_region("a", 1, 75, song="s1", dancers=2, usable="usable")   # end moved 3.0 -> 2.5, dancers 1 -> 2
              + _region("b", 91, 180, song="s9", usable="unusable")        # start 3.0 -> 3.0, song s2 -> s9, unusable
              + _region("new1", 181, 240, song="s1"))                       # a clip the proposals missed
    clips = parse_compilation(task, {"result": result}, LABELS)
    report = PullReport()
    merged = merge_compilation_annotations(_manifest(), {"c0": clips}, report).set_index("clip_id")
    assert merged.loc["a", "end_s"] == "2.500000" and merged.loc["a", "num_dancers"] == "2"
    assert merged.loc["b", "song_id"] == "s9" and merged.loc["b", "usable"] == "false"
    assert merged.loc["b", "keep"] == "y", "other columns travel with the clip"
    assert merged.loc["c0-0002", "start_s"] == "6.000000" and merged.loc["c0-0002", "song_id"] == "s1"
    assert merged.loc["c", "song_id"] == "s3", "compilations without annotation are untouched"
    assert "c0/a: end_s 3.000000 -> 2.500000" in report.changes
    assert "c0/b: song_id s2 -> s9" in report.changes
    assert any("new clip [6.000, 8.000]" in c for c in report.changes)


def test_removed_clip_is_listed_not_silently_dropped():
    task = {"id": 1, "data": {"task_key": "compilation:c0", "compilation_id": "c0", "fps": 30}}
    report = PullReport()
    merged = merge_compilation_annotations(
        _manifest(), {"c0": parse_compilation(task, {"result": _region("a", 1, 90)}, LABELS)}, report)
    assert list(merged["clip_id"]) == ["a", "c"]
    assert "c0/b: removed by the annotator" in report.changes


def test_unknown_label_stops_the_merge():
    task = {"id": 1, "data": {"task_key": "compilation:c0", "compilation_id": "c0", "fps": 30}}
    with pytest.raises(AnnotationError, match=r"does not know: \[\"clips='intro'\"\]"):
        parse_compilation(task, {"result": _region("a", 1, 90, label="intro")}, LABELS)


def test_disagreeing_annotators_are_a_listed_conflict_and_the_latest_wins():
    task = {"id": 7, "data": {"task_key": "compilation:c0"}, "annotations": [
        {"id": 1, "updated_at": "2026-01-01T00:00:00", "result": _region("a", 1, 90)},
        {"id": 2, "updated_at": "2026-01-02T00:00:00", "result": _region("a", 1, 60)},
        {"id": 3, "updated_at": "2026-01-03T00:00:00", "was_cancelled": True, "result": []}]}
    report = PullReport()
    chosen = latest_annotations([task, {"id": 8, "data": {"task_key": "compilation:c1"}, "annotations": []}], report)
    assert chosen["compilation:c0"]["annotation"]["id"] == 2
    assert report.conflicts and "2 annotations disagree" in report.conflicts[0]
    assert report.not_annotated == ["compilation:c1"]


def test_versioned_copies_never_overwrite(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("v0")
    assert keep_versioned_copy(manifest).name == "m.v1.csv"
    manifest.write_text("v1")
    assert keep_versioned_copy(manifest).name == "m.v2.csv"
    assert (tmp_path / "m.v1.csv").read_text() == "v0"


def test_build_skips_clips_marked_unusable():
    def clip(usable):
        return ClipSpec("c", "http://h", "a", 0.0, 1.0, "s", 1, 2, {"usable": usable})
    assert clip("false").marked_unusable and clip("unusable").marked_unusable
    assert not clip("true").marked_unusable and not clip("").marked_unusable
