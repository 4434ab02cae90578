from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from tiktok_dm.cli import cli
from tiktok_dm.model.manifest import Manifest, ManifestError, is_safe_id

HEADER = "compilation_id,url,clip_id,start_s,end_s,song_id,num_dancers,note\n"


def write(tmp_path, body: str):
    path = tmp_path / "manifest.csv"
    path.write_text(HEADER + textwrap.dedent(body).lstrip())
    return path


def test_valid_manifest_keeps_extra_columns_and_groups_compilations(tmp_path):
    path = write(tmp_path, """
        c0,http://127.0.0.1:1/a.mp4,0,0,5.5,7,1,first
        c0,http://127.0.0.1:1/a.mp4,1,5.5,9,,,
        c1,https://example.invalid/b.mp4,2,1,3,8,2,
        """)
    manifest = Manifest.from_csv(path)
    assert [c.compilation_id for c in manifest.compilations] == ["c0", "c1"]
    first = manifest.clips[0]
    assert (first.start_s, first.end_s, first.song_id, first.num_dancers, first.line) == (0.0, 5.5, "7", 1, 2)
    assert first.extra == {"note": "first"}
    assert manifest.clips[1].song_id is None and manifest.clips[1].num_dancers is None


def test_every_problem_is_listed_with_its_line(tmp_path):
    path = write(tmp_path, """
        c0,http://h/a.mp4,0,0,5,1,1,
        c0,http://h/a.mp4,1,abc,6,1,1,
        c0,http://h/a.mp4,2,9,8,1,1,
        c0,http://h/a.mp4,3,4,7,1,1,
        c0,http://h/a.mp4,0,20,25,1,1,
        c1,http://h/a.mp4,bad/id,0,2,1,1,
        c2,file:///etc/passwd,x,0,2,1,1,
        c3,http://h/c.mp4,..,0,2,1,1,
        c4,http://h/d.mp4,y,0,2,1,-1,
        """)
    with pytest.raises(ManifestError) as caught:
        Manifest.from_csv(path)
    lines = {line for line, _ in caught.value.problems}
    messages = str(caught.value)
    assert lines == {3, 4, 5, 6, 7, 8, 9, 10}
    assert "start_s 'abc' is not a number" in messages
    assert "start_s 9.0 >= end_s 8.0" in messages
    assert "overlaps clip '0'" in messages
    assert "duplicate clip_id '0' (first on line 2)" in messages
    assert "unsafe as a file name" in messages
    assert "file:// URL" in messages and "--allow-file-urls" in messages
    assert "is under compilation 'c1' here and 'c0' on line 2" in messages
    assert "num_dancers" in messages
    assert "nothing was written" in messages


def test_missing_columns_is_one_clear_error(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("compilation_id,url,clip_id\nc0,http://h/a.mp4,0\n")
    with pytest.raises(ManifestError, match=r"missing column\(s\) \['start_s', 'end_s', 'song_id', 'num_dancers'\]"):
        Manifest.from_csv(path)


def test_file_urls_are_accepted_only_when_allowed(tmp_path):
    path = write(tmp_path, "c0,file:///tmp/a.mp4,0,0,1,1,1,\n")
    with pytest.raises(ManifestError):
        Manifest.from_csv(path)
    assert Manifest.from_csv(path, allow_file_urls=True).clips[0].url == "file:///tmp/a.mp4"


def test_rows_without_spans_ask_for_segmentation(tmp_path):
    path = write(tmp_path, """
        c0,http://h/a.mp4,,,,,,
        c1,http://h/b.mp4,1,0,4,1,1,
        """)
    manifest = Manifest.from_csv(path)
    assert [c.compilation_id for c in manifest.unsegmented_compilations] == ["c0"]
    assert [c.clip_id for c in manifest.spanned_clips] == ["1"]


@pytest.mark.parametrize("value, safe", [("clip_01", True), ("a/b", False), ("..", False), ("a..b", False),
                                         ("a\\b", False), ("tab\there", False), (" x", False), (".hidden", False),
                                         ("000009-0001", True), ("舞者_01", True), ("a:b", False), ("a*b", False),
                                         ("CON", False), ("nul.txt", False), ("console", True), ("clip.", False),
                                         ("x" * 100, True), ("x" * 101, False), ("é" * 51, False), ("=1+2", False),
                                         ("@SUM(1)", False), ("-x", False), ("-1", False), ("+1", True)])
def test_safe_ids(value, safe):
    assert is_safe_id(value) is safe


def test_rows_that_would_break_a_build_are_refused_with_their_line(tmp_path):
    path = write(tmp_path, f"""
        c0,http://h/a.mp4,{"x" * 300},0,4,1,1,
        c0,http://h/a.mp4,k1,4,8,1,99999999999,
        c0,http://h/a.mp4,k2,8,12,=HYPERLINK("http://x"),1,
        c0,http://h/a.mp4,k3,12,16,@SUM(1),1,
        """)
    with pytest.raises(ManifestError) as raised:
        Manifest.from_csv(path)
    by_line = dict(raised.value.problems)
    assert "300 bytes long" in by_line[2] and "more than 100" in by_line[3]
    assert "spreadsheet formula" in by_line[4] and "spreadsheet formula" in by_line[5]


def test_validate_cli_exit_codes(tmp_path):
    runner = CliRunner()
    good = write(tmp_path, "c0,http://h/a.mp4,0,0,5,1,1,\n")
    result = runner.invoke(cli, ["validate", str(good)])
    assert result.exit_code == 0, result.output
    assert "valid: 1 compilation(s), 1 clip span(s)" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "c0,http://h/a.mp4,0,5,1,1,1,\n")
    result = runner.invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "line 2: start_s 5.0 >= end_s 1.0" in result.output


def test_build_refuses_invalid_manifest_and_writes_nothing(tmp_path):
    bad = write(tmp_path, "c0,http://h/a.mp4,0,5,1,1,1,\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["build", str(bad), "--out", str(out), "--executor", "local"])
    assert result.exit_code == 2
    assert "start_s 5.0 >= end_s 1.0" in result.output
    assert not out.exists()
