from __future__ import annotations

import socket

import pandas as pd
from click.testing import CliRunner

from tiktok_dm.cli import cli
from tiktok_dm.testing.loopback import serve_directory


def test_verify_reports_alive_404_and_refused_without_downloading(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "alive.mp4").write_bytes(b"\x00" * 4096)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with serve_directory(served) as base:
        manifest = tmp_path / "manifest.csv"
        pd.DataFrame([
            {"compilation_id": "a", "url": f"{base}/alive.mp4", "clip_id": "0", "start_s": 0, "end_s": 1},
            {"compilation_id": "b", "url": f"{base}/gone.mp4", "clip_id": "1", "start_s": 0, "end_s": 1},
            {"compilation_id": "c", "url": f"http://127.0.0.1:{closed_port}/x.mp4", "clip_id": "2",
             "start_s": 0, "end_s": 1},
        ]).assign(song_id="", num_dancers="").to_csv(manifest, index=False)
        out = tmp_path / "linkrot.csv"
        result = CliRunner().invoke(cli, ["verify", str(manifest), "--out", str(out), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "1 of 3 source URL(s) answer" in result.output
    table = pd.read_csv(out, keep_default_na=False).set_index("compilation_id")
    assert list(table.loc[["a", "b", "c"], "status"]) == ["ok", "failed", "failed"]
    assert "HTTP Error 404" in table.loc["b", "error"]
    assert "Connection refused" in table.loc["c", "error"]
    assert table.loc["a", "error"] == ""
    assert not list(tmp_path.glob("**/*.part")), "verify must not download"
