"""The data model: clip records keep their first failure, clips.csv reads back into the same records, stage
records survive JSON with their typed outputs, a StageError keeps its kind across processes."""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys

import pandas as pd
import pytest

from tiktok_dm.model.clips import ClipRecord, ClipSet, SongSource
from tiktok_dm.model.manifest import ClipSpec
from tiktok_dm.model.names import D2MIndex, d2m_indices, proposed_clip_id
from tiktok_dm.model.outputs import BoundaryOutput, ProposedSpan, SegmentFile, SegmentsOutput
from tiktok_dm.model.records import StageRecord
from tiktok_dm.model.status import ErrorKind, StageError, Status
from tiktok_dm.model.tables import read_csv, write_csv


def _spec(clip_id: str | None, line: int, song_id: str | None = None, **extra) -> ClipSpec:
    span = (0.0, 4.0) if clip_id else (None, None)
    return ClipSpec("c0", "https://example.org/c0.mp4", clip_id, *span, song_id, 2, line, dict(extra))


def test_a_clip_keeps_its_first_failure():
    clip = ClipRecord.from_spec(_spec("a", 2, "s1"))
    assert clip.ok and clip.song_source is SongSource.MANIFEST
    failed = clip.failed("cut", "audio is silent", ErrorKind.NO_AUDIO)
    again = failed.failed("pose", "nobody", ErrorKind.NO_PERSON, Status.CRASHED)
    assert again == failed and (failed.status, failed.failed_stage, failed.error_kind) == \
        (Status.FAILED, "cut", ErrorKind.NO_AUDIO)


def test_clips_csv_reads_back_into_the_same_records(tmp_path):
    clips = ClipSet([
        ClipRecord.from_spec(_spec("a", 2, "s1", note="=1+2")),
        ClipRecord.from_spec(_spec("b", 3, None, note="")).failed("songs", "no id", ErrorKind.NO_SONG_ID),
        ClipRecord(_spec("c", 4, None, note="x"), song_id="fp:c", song_source=SongSource.FINGERPRINT, split="test"),
        ClipRecord.from_spec(_spec(None, 5, note="")).failed("download", "HTTP Error 404", ErrorKind.UNAVAILABLE),
    ])
    clips.to_csv(tmp_path / "clips.csv")
    table = pd.read_csv(tmp_path / "clips.csv", dtype=str, keep_default_na=False)
    assert list(table.columns[:10]) == ["line", "compilation_id", "url", "clip_id", "start_s", "end_s", "song_id",
                                        "song_source", "num_dancers", "note"]
    assert list(table["status"]) == ["ok", "failed", "ok", "failed"]
    assert list(table["error_kind"]) == ["", "no_song_id", "", "unavailable"]
    assert list(ClipSet.read_csv(tmp_path / "clips.csv")) == list(clips)


def test_clips_csv_errors_name_the_line(tmp_path):
    ClipSet([ClipRecord.from_spec(_spec("a", 2, "s1"))]).to_csv(tmp_path / "clips.csv")
    text = (tmp_path / "clips.csv").read_text().replace(",ok,", ",done,")
    (tmp_path / "clips.csv").write_text(text)
    with pytest.raises(ValueError, match=r"clips.csv:2: 'done' is not a valid Status"):
        ClipSet.read_csv(tmp_path / "clips.csv")
    with pytest.raises(ValueError, match="repeated"):
        ClipSet([ClipRecord.from_spec(_spec("a", 2)), ClipRecord.from_spec(_spec("a", 2))])


def test_stage_records_keep_their_typed_outputs_through_json():
    segments = SegmentsOutput((SegmentFile("000000_1_2_seg1", 1, 0.0, 2.0, "d2m/a.wav", "d2m/m.npy", 0.5),),
                              "body25", 0, 1, 2)
    record = StageRecord.success("segments", "clip", segments, seconds=1.5)
    back = StageRecord.from_json(record.to_json(), SegmentsOutput)
    assert back == record and isinstance(back.output.segments, tuple)
    proposals = StageRecord.success("boundaries", "c0", BoundaryOutput((ProposedSpan(0.0, 3.5, 0.9),), "b.csv",
                                                                       3.5, True, ("no sound track",)))
    assert StageRecord.from_json(proposals.to_json(), BoundaryOutput) == proposals
    failed = StageRecord.failure("cut", "clip", "boom", ErrorKind.EXCEPTION, Status.CRASHED)
    assert StageRecord.from_json(failed.to_json(), SegmentsOutput) == failed
    with pytest.raises(ValueError, match="not a BoundaryOutput record"):
        StageRecord.from_json(record.to_json(), BoundaryOutput)


def test_a_stage_error_keeps_its_kind_across_processes():
    error = pickle.loads(pickle.dumps(StageError("no audio track", ErrorKind.NO_AUDIO)))
    assert str(error) == "no audio track" and error.kind is ErrorKind.NO_AUDIO
    assert StageError("bad").kind is ErrorKind.BAD_INPUT


def test_d2m_names_number_every_spanned_clip_with_a_song():
    clips = [ClipRecord.from_spec(_spec("7", 2, "3")), ClipRecord.from_spec(_spec("9", 3, "3")),
             ClipRecord(_spec("11", 4, None), song_id="fp:11", song_source=SongSource.FINGERPRINT),
             ClipRecord.from_spec(_spec("12", 5, None)), ClipRecord.from_spec(_spec(None, 6))]
    assert d2m_indices(clips) == {"7": D2MIndex(0, 3, 7), "9": D2MIndex(0, 3, 9), "11": D2MIndex(0, 4, 11)}
    assert proposed_clip_id("000009", 3) == "000009-0003"


def test_written_files_get_the_umasks_mode(tmp_path):
    """mkstemp makes 0600 temporaries; what lands in the build must be readable as the umask allows."""
    script = ("import os, sys; from tiktok_dm.model.atomic import atomic_write_text; "
              "atomic_write_text(sys.argv[1], 'x')")
    for umask, mode in ((0o022, 0o644), (0o007, 0o660), (0o077, 0o600)):
        target = tmp_path / f"{umask:o}.txt"
        subprocess.run([sys.executable, "-c", script, str(target)], check=True,
                       preexec_fn=lambda umask=umask: os.umask(umask))
        assert stat.S_IMODE(target.stat().st_mode) == mode, (oct(umask), oct(target.stat().st_mode))


def test_formula_like_cells_are_neutralised_for_spreadsheets_and_read_back_true(tmp_path):
    cells = ["=1+2", "@SUM(1)", '=HYPERLINK("http://x","y")', "+1-2", "-2+3", "\tcmd", "\rcmd", "'quoted", "''two",
             "plain", "-0.5", "+3", "1e5", ""]
    frame = pd.DataFrame({"text": cells, "number": [-1.5] * len(cells)})
    write_csv(frame, tmp_path / "t.csv")
    raw = pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False)
    assert list(raw["text"]) == ["'=1+2", "'@SUM(1)", '\'=HYPERLINK("http://x","y")', "'+1-2", "'-2+3", "'\tcmd",
                                 "'\rcmd", "''quoted", "'''two", "plain", "-0.5", "+3", "1e5", ""]
    assert set(raw["number"]) == {"-1.5"}
    assert list(read_csv(tmp_path / "t.csv")["text"]) == cells
