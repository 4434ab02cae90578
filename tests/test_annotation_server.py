"""The Label Studio round trip against a real server on 127.0.0.1 (see annotation/local_server.py)."""

from __future__ import annotations

import copy
import os
import socket
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from annotation.client import connect
from annotation.local_server import label_studio_executable, running_server
from annotation.projects import find_project
from tiktok_dm.cli import cli
from tiktok_dm.config import DownloadConfig
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.stages.base import run_item
from tiktok_dm.stages.download import DownloadItem, DownloadStage
from tiktok_dm.testing.compose import CompilationPart, compose_compilation
from tiktok_dm.testing.dancer import write_dancer_video
from tiktok_dm.testing.loopback import serve_directory
from tiktok_dm.testing.music import synth_song

pytestmark = pytest.mark.slow
PROJECT = "compilations"
PRISTINE = "manifest.as-written.csv"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    executable = label_studio_executable()
    if executable is None:
        reason = "Label Studio is not installed: run `bash scripts/install.sh --test` (it makes .venv-ls)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with running_server(executable, tmp_path_factory.mktemp("label-studio")) as info:
        yield info


@pytest.fixture(scope="module")
def built(server, tmp_path_factory):
    """A downloaded three-clip compilation inside the server's document root, and its manifest."""
    media = tmp_path_factory.mktemp("media")
    dancer = write_dancer_video(media / "dancer.mp4", seconds=2.0, fps=30, width=320, height=240, bpm=120, seed=2)
    parts = [CompilationPart(dancer, 3.0, synth_song(3.0, 22050, 100 + 10 * i, 110.0 * (i + 1), seed=i))
             for i in range(3)]
    spans = compose_compilation(parts, media / "c0.mp4", width=320, height=240)
    build_dir = BuildDir(Path(server["document_root"]) / "build")
    manifest = tmp_path_factory.mktemp("manifest") / "manifest.csv"
    with serve_directory(media) as base:
        url = f"{base}/c0.mp4"
        result = run_item(DownloadStage(DownloadConfig(), build_dir), DownloadItem("c0", url))
    assert result.ok, result.error
    pd.DataFrame([{"compilation_id": "c0", "url": url, "clip_id": f"k{i}", "start_s": f"{start:.6f}",
                   "end_s": f"{end:.6f}", "song_id": f"s{i}", "num_dancers": "1" if i == 0 else ""}
                  for i, (start, end) in enumerate(spans)]).to_csv(manifest, index=False)
    # The manifest as written, for the tests that need it after a pull has rewritten manifest.csv.
    manifest.with_name(PRISTINE).write_text(manifest.read_text())
    return manifest, build_dir


@pytest.fixture(scope="module")
def pushed(server, built) -> tuple[Path, BuildDir, str]:
    """The compilation pushed once into PROJECT (each test below can then run alone): manifest, build, push output."""
    manifest, build_dir = built
    result = annotate("push", "--url", server["url"], "--project", PROJECT, "--manifest", str(manifest), "--build",
                      str(build_dir.root), "--document-root", server["document_root"], token=server["token"])
    assert result.exit_code == 0, result.output
    return manifest, build_dir, result.output


def annotate(*args: str, token: str) -> Result:
    result = CliRunner().invoke(cli, ["annotate", *args], env={"LABEL_STUDIO_API_KEY": token})
    assert token not in result.output, "the API key must never be printed"
    return result


def test_round_trip_push_annotate_pull(server, pushed):
    manifest, build_dir, push_output = pushed
    where = ["--url", server["url"], "--project", PROJECT]
    assert "1 task(s) created, 0 already there, 1 with pre-annotations" in push_output

    client = connect(server["url"], server["token"])
    project = find_project(client, PROJECT)
    task = next(iter(client.tasks.list(project=project.id, fields="all")))
    # The video is really served by Label Studio's local-files storage.
    request = urllib.request.Request(server["url"] + task.data["video"],
                                     headers={"Authorization": f"Token {server['token']}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and len(response.read()) > 10_000

    # An annotator starts from the pre-annotation and fixes it.
    prediction = next(iter(client.predictions.list(task=task.id)))
    result = copy.deepcopy(prediction.result)
    for item in result:
        if item["id"] == "k1" and item["from_name"] == "clips":
            item["value"]["ranges"][0]["end"] -= 15  # move k1's end 0.5 s earlier
        if item["id"] == "k2" and item["from_name"] == "song_id":
            item["value"]["text"] = ["s0"]  # k2 is really song s0
        if item["id"] == "k2" and item["from_name"] == "usable":
            item["value"]["choices"] = ["unusable"]
    result.append({"id": "k1", "from_name": "num_dancers", "to_name": "video", "type": "number",
                   "value": {"number": 2}})
    client.annotations.create(id=task.id, result=result)

    pulled = annotate("pull", *where, "--manifest", str(manifest), token=server["token"])
    assert pulled.exit_code == 0, pulled.output
    after = pd.read_csv(manifest, dtype=str, keep_default_na=False).set_index("clip_id")
    before = pd.read_csv(manifest.with_name("manifest.v1.csv"), dtype=str, keep_default_na=False).set_index("clip_id")
    assert abs(float(after.loc["k1", "end_s"]) - (float(before.loc["k1", "end_s"]) - 0.5)) < 1e-6
    assert after.loc["k1", "num_dancers"] == "2"
    assert after.loc["k2", "song_id"] == "s0" and after.loc["k2", "usable"] == "false"
    untouched = ["start_s", "end_s", "song_id", "num_dancers"]
    assert after.loc["k0", untouched].tolist() == before.loc["k0", untouched].tolist()
    assert after.loc["k2", ["start_s", "end_s"]].tolist() == before.loc["k2", ["start_s", "end_s"]].tolist()
    assert "4 change(s)" in pulled.output

    again = annotate("push", *where, "--manifest", str(manifest), "--build", str(build_dir.root),
                     "--document-root", server["document_root"], token=server["token"])
    assert "0 task(s) created, 1 already there" in again.output, again.output
    status = annotate("status", *where, token=server["token"])
    assert "1 task(s), 1 annotated" in status.output, status.output


def test_errors_a_user_will_hit(server, pushed, tmp_path):
    manifest, build_dir, _ = pushed
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    down = annotate("status", "--url", closed, "--project", PROJECT, token=server["token"])
    assert down.exit_code == 2 and "cannot reach Label Studio" in down.output

    bad_token = annotate("status", "--url", server["url"], "--project", PROJECT, token="not-a-real-token-123")
    assert bad_token.exit_code == 2 and "rejected the API key" in bad_token.output

    missing = annotate("pull", "--url", server["url"], "--project", "no such project", "--manifest", str(manifest),
                       token=server["token"])
    assert missing.exit_code == 2 and "no project titled 'no such project'" in missing.output

    outside = annotate("push", "--url", closed, "--project", PROJECT, "--manifest", str(manifest), "--build",
                       str(build_dir.root), "--document-root", str(tmp_path), token=server["token"])
    assert outside.exit_code == 2 and "outside the Label Studio document root" in outside.output  # before any call

    client = connect(server["url"], server["token"])
    project = find_project(client, PROJECT)
    task = next(iter(client.tasks.list(project=project.id, fields="all")))
    annotation = client.annotations.create(id=task.id, result=[{
        "id": "zz", "from_name": "clips", "to_name": "video", "type": "timelinelabels",
        "value": {"ranges": [{"start": 1, "end": 30}], "timelinelabels": ["intro"]}}])
    try:
        before = manifest.read_text()
        unknown = annotate("pull", "--url", server["url"], "--project", PROJECT, "--manifest", str(manifest),
                           token=server["token"])
        assert unknown.exit_code == 2 and "does not know" in unknown.output and "intro" in unknown.output
        assert manifest.read_text() == before, "nothing is written when the merge is refused"
    finally:  # the other tests of the project's task must not meet this annotation, whatever their order
        client.annotations.delete(id=annotation.id)


def test_clip_project_confirms_songs_and_quality(server, built, tmp_path):
    from tiktok_dm.config import CutConfig
    from tiktok_dm.model.manifest import Manifest
    from tiktok_dm.model.outputs import DownloadOutput
    from tiktok_dm.stages.cut import CutItem, CutStage

    manifest, build_dir = built
    clips_manifest = tmp_path / "clips.csv"
    clips_manifest.write_text(manifest.with_name(PRISTINE).read_text())  # not the one a pull rewrote
    source = next(build_dir.records(DownloadOutput)).output
    for clip in Manifest.from_csv(clips_manifest).spanned_clips:
        cut = run_item(CutStage(CutConfig(preset="ultrafast"), build_dir),
                       CutItem(clip, source.path, source.duration_s, source.fps, source.has_audio, source.sha256))
        assert cut.ok, cut.error
    where = ["--url", server["url"], "--project", "clips"]
    pushed = annotate("push", *where, "--kind", "clip", "--manifest", str(clips_manifest), "--build",
                      str(build_dir.root), "--document-root", server["document_root"], token=server["token"])
    assert "3 task(s) created" in pushed.output, pushed.output

    client = connect(server["url"], server["token"])
    project = find_project(client, "clips")
    tasks = {t.data["clip_id"]: t for t in client.tasks.list(project=project.id, fields="all")}
    assert [c["value"] for c in tasks["k1"].data["candidate_songs"]] == ["s0", "s1", "s2"]
    client.annotations.create(id=tasks["k1"].id, result=[
        {"from_name": "song_id", "to_name": "video", "type": "choices", "value": {"choices": ["s0"]}},
        {"from_name": "quality", "to_name": "video", "type": "choices", "value": {"choices": ["unusable"]}},
        {"from_name": "num_dancers", "to_name": "video", "type": "number", "value": {"number": 3}}])
    pulled = annotate("pull", *where, "--manifest", str(clips_manifest), token=server["token"])
    assert pulled.exit_code == 0, pulled.output
    after = pd.read_csv(clips_manifest, dtype=str, keep_default_na=False).set_index("clip_id")
    assert after.loc["k1", ["song_id", "num_dancers", "usable"]].tolist() == ["s0", "3", "false"]
    assert after.loc["k0", "song_id"] == "s0" and after.loc["k2", "song_id"] == "s2"
    assert "2 task(s) not annotated yet" in pulled.output
