"""Downloads as they meet today's sites: the JS runtime yt-dlp needs for YouTube, the kind of every failure with
its remedy, backing off when rate limited, at most N downloads per host on a Ray cluster, cookies that stay put."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from ray_clusters import local_cluster
from test_distribute import worker_numba_caches
from test_stages import _frame_coded_video
from tiktok_dm.cli import cli
from tiktok_dm.download.config import DownloadConfig
from tiktok_dm.download.failures import REMEDIES, classify
from tiktok_dm.download.ytdlp import DownloadSetupError, base_options, check_setup
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.status import ErrorKind, Status
from tiktok_dm.stages.base import run_item
from tiktok_dm.stages.download import DownloadItem, DownloadStage
from tiktok_dm.testing.loopback import Answer, serve_host

VENV_BIN = Path(sys.executable).parent


# --- the JS runtime and the ejs scripts ---------------------------------------------------------------------------

def test_yt_dlp_verbose_header_lists_the_js_runtime_and_the_ejs_scripts(tmp_path):
    """The venv's own yt-dlp, run as a user would: YouTube's challenges need both."""
    (tmp_path / "v.mp4").write_bytes(b"\0" * 64)
    with serve_host(tmp_path) as host:
        result = subprocess.run([str(VENV_BIN / "yt-dlp"), "--verbose", "--ignore-config", "--simulate",
                                 f"{host.url}/v.mp4"], capture_output=True, text=True, timeout=120)
    header = result.stderr
    runtimes = next(line for line in header.splitlines() if "JS runtimes:" in line)
    libraries = next(line for line in header.splitlines() if "Optional libraries:" in line)
    assert "deno-" in runtimes and "unsupported" not in runtimes, runtimes
    assert "yt_dlp_ejs-" in libraries, libraries


def test_our_yt_dlp_options_name_the_deno_binary_and_yt_dlp_finds_it():
    import yt_dlp

    config = DownloadConfig()
    options = base_options(config, "c0", "https://www.youtube.com/watch?v=abc")
    path = options["js_runtimes"]["deno"]["path"]
    assert Path(path).is_file() and os.access(path, os.X_OK)
    lines = []
    logger = type("L", (), {"debug": lambda self, m: lines.append(m), "info": lambda self, m: lines.append(m),
                            "warning": lambda self, m: lines.append(m), "error": lambda self, m: lines.append(m)})()
    with yt_dlp.YoutubeDL({**options, "verbose": True, "quiet": False, "logger": logger}) as ydl:
        ydl.print_debug_header()
    runtimes = next(line for line in lines if "JS runtimes:" in line)
    assert "deno-" in runtimes, runtimes
    check_setup(config, ["https://www.youtube.com/watch?v=abc"])  # a YouTube manifest passes the up-front check


def test_youtube_urls_without_a_js_runtime_are_refused_before_any_work(tmp_path):
    config = DownloadConfig(js_runtime_path=str(tmp_path / "no-deno"))
    with pytest.raises(DownloadSetupError, match="YouTube URL.*no usable JavaScript runtime"):
        check_setup(config, ["https://youtu.be/abc", "http://127.0.0.1:1/x.mp4"])
    check_setup(config, ["http://127.0.0.1:1/x.mp4"])  # other sites need none


# --- failure kinds from a loopback site ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    (folder / "clip.mp4").write_bytes(b"\0" * 64)
    with serve_host(folder) as host:
        yield host


def _download(tmp_path, url, **config):
    config = {"retries": 0, "rate_limit_retries": 0, "socket_timeout_s": 5.0, **config}
    return run_item(DownloadStage(DownloadConfig(**config), BuildDir(tmp_path)), DownloadItem("c0", url))


@pytest.mark.parametrize("status, kind", [(404, ErrorKind.UNAVAILABLE), (410, ErrorKind.UNAVAILABLE),
                                          (403, ErrorKind.UNAVAILABLE), (429, ErrorKind.RATE_LIMITED),
                                          (503, ErrorKind.NETWORK)])
def test_an_http_answer_gives_its_kind_and_remedy(site, tmp_path, status, kind):
    path = f"/gone-{status}.mp4"
    site.scripted[path] = [Answer(status)] * 4
    record = _download(tmp_path, site.url + path)
    assert (record.status, record.error_kind) == (Status.FAILED, kind), record.error
    assert f"HTTP Error {status}" in record.error and REMEDIES[kind] in record.error


def test_a_dead_host_and_a_silent_host_are_network_failures(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = _download(tmp_path, f"http://127.0.0.1:{port}/x.mp4")
    assert refused.error_kind is ErrorKind.NETWORK and "Connection refused" in refused.error
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        silent = _download(tmp_path, f"http://127.0.0.1:{listener.getsockname()[1]}/x.mp4", socket_timeout_s=1.0)
    finally:
        listener.close()
    assert silent.error_kind is ErrorKind.NETWORK and "timed out" in silent.error.lower()


def test_too_many_requests_waits_as_asked_and_then_downloads(tmp_path, caplog):
    """Two 429 answers with Retry-After: 1, then the file: one download, after two waits of about a second."""
    served = tmp_path / "served"
    served.mkdir()
    _frame_coded_video(served / "v.mp4", 2.0)
    with serve_host(served, scripted={"/v.mp4": [Answer(429, (("Retry-After", "1"),))] * 2}) as host:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="tiktok_dm.stages.download"):
            record = _download(tmp_path / "build", f"{host.url}/v.mp4", rate_limit_retries=3)
        took = time.monotonic() - started
    assert record.ok, record.error
    assert 2.0 <= took < 30, took
    assert sum("rate limited" in r.getMessage() for r in caplog.records) == 2
    assert host.requests.count("/v.mp4") >= 3


def test_rate_limit_retries_end_with_the_kind_and_how_many_waits(site, tmp_path):
    site.scripted["/busy.mp4"] = [Answer(429, (("Retry-After", "0"),))] * 10
    record = _download(tmp_path, site.url + "/busy.mp4", rate_limit_retries=2)
    assert record.error_kind is ErrorKind.RATE_LIMITED and "after 2 wait(s)" in record.error


# --- failure kinds from the YouTube extractor's own words ---------------------------------------------------------

def _youtube_failure(reason: str, subreason: str = "", geo: bool = False) -> Exception:
    """The DownloadError yt-dlp gives for a YouTube player answer without formats, its text made by the YouTube
    extractor's own code (login hint, geo restriction) and wrapped by YoutubeDL as in the field."""
    import yt_dlp
    from yt_dlp.extractor.youtube import YoutubeIE

    class ScriptedYoutubeIE(YoutubeIE):
        _VALID_URL = r"https?://scripted\.invalid/(?P<id>[\w-]+)"
        IE_NAME = "youtube"

        def _real_extract(self, url):
            if geo:
                self.raise_geo_restricted(subreason, ["US"], metadata_available=True)
            text = reason + (f". {subreason}" if subreason else "")
            if "sign in" in text.lower():
                text = f"{text.strip().removesuffix('.')}. {self._youtube_login_hint}"
            elif "try again later" in text:
                text = (f"{text.strip().removesuffix('.')}. The current session has been rate-limited by YouTube for "
                        "up to an hour.")
            self.raise_no_formats(text, expected=True)

    with yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True, "logger": logging.getLogger("test")}) as ydl:
        extractor = ScriptedYoutubeIE(ydl)
        ydl.add_info_extractor(extractor)
        try:
            ydl.extract_info("https://scripted.invalid/dQw4w9WgXcQ", download=False, ie_key=extractor.ie_key())
        except yt_dlp.utils.DownloadError as error:
            return error
    raise AssertionError("no error")


@pytest.mark.parametrize("reason, subreason, geo, kind", [
    ("Sign in to confirm you\u2019re not a bot", "This helps protect our community.", False, ErrorKind.BOT_CHECK),
    ("Sign in to confirm your age", "This video may be inappropriate for some users.", False,
     ErrorKind.AGE_RESTRICTED),
    ("", "The uploader has not made this video available in your country", True, ErrorKind.GEO_BLOCKED),
    ("Video unavailable", "This video has been removed by the uploader", False, ErrorKind.UNAVAILABLE),
    ("Private video", "Sign in if you've been granted access to this video", False, ErrorKind.UNAVAILABLE),
    ("This content isn't available, try again later", "", False, ErrorKind.RATE_LIMITED),
    ("Requested format is not available", "", False, ErrorKind.EXTRACTOR),
])
def test_youtube_reasons_get_their_kind(reason, subreason, geo, kind):
    error = _youtube_failure(reason, subreason, geo)
    failure = classify(error)
    assert failure.kind is kind, str(error)
    assert failure.message.startswith("[youtube] dQw4w9WgXcQ:") and failure.remedy == REMEDIES[kind]


# --- verify says the same kinds -----------------------------------------------------------------------------------

def test_verify_reports_the_kinds_and_remedies(site, tmp_path):
    site.scripted["/removed.mp4"] = [Answer(410)] * 4
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame([
        {"compilation_id": "a", "url": f"{site.url}/clip.mp4", "clip_id": "0", "start_s": 0, "end_s": 3},
        {"compilation_id": "b", "url": f"{site.url}/removed.mp4", "clip_id": "1", "start_s": 0, "end_s": 3},
    ]).assign(song_id="", num_dancers="").to_csv(manifest, index=False)
    out = tmp_path / "linkrot.csv"
    result = CliRunner().invoke(cli, ["verify", str(manifest), "--out", str(out), "--no-progress"])
    assert result.exit_code == 1, result.output
    table = pd.read_csv(out, keep_default_na=False).set_index("compilation_id")
    assert list(table["status"]) == ["ok", "failed"] and list(table["error_kind"]) == ["", "unavailable"]
    assert table.loc["b", "remedy"] == REMEDIES[ErrorKind.UNAVAILABLE]
    assert "unavailable: b" in result.output and "what to do:" in result.output


# --- cookies --------------------------------------------------------------------------------------------------------

COOKIE = "tdm_secret_cookie_value_93f1"


def test_cookies_reach_the_site_and_never_the_build_folder_or_the_log(tmp_path, caplog):
    served = tmp_path / "served"
    served.mkdir()
    _frame_coded_video(served / "v.mp4", 2.0)
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\t" + COOKIE + "\n")
    seen = []
    with serve_host(served) as host:
        host.on_request = lambda handler: seen.append(handler.headers.get("Cookie", ""))
        manifest = tmp_path / "manifest.csv"
        pd.DataFrame([{"compilation_id": "a", "url": f"{host.url}/v.mp4", "clip_id": "0", "start_s": 0,
                       "end_s": 2, "song_id": "s", "num_dancers": ""}]).to_csv(manifest, index=False)
        with caplog.at_level(logging.DEBUG):
            result = CliRunner().invoke(cli, ["build", str(manifest), "--out", str(tmp_path / "out"), "--executor",
                                              "local", "--no-progress", "--cookies", str(cookies), "-vv"])
    assert result.exit_code in (0, 1), result.output
    assert any(COOKIE in header for header in seen), seen
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert COOKIE.encode() not in path.read_bytes(), path
    assert COOKIE not in result.output and COOKIE not in caplog.text


def test_missing_cookies_or_an_unknown_browser_are_refused_before_any_work(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("compilation_id,url,clip_id,start_s,end_s,song_id,num_dancers\n"
                        "c0,http://127.0.0.1:9/v.mp4,k0,0,4,s0,1\n")
    missing = CliRunner().invoke(cli, ["build", str(manifest), "--out", str(tmp_path / "out"),
                                       "--cookies", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "nope.txt: no such file" in missing.stderr
    browser = CliRunner().invoke(cli, ["build", str(manifest), "--out", str(tmp_path / "out"),
                                       "--cookies-from-browser", "netscape4"])
    assert browser.exit_code == 2 and "unsupported browser" in browser.stderr
    assert not (tmp_path / "out").exists()


# --- at most N downloads per host on a Ray cluster ----------------------------------------------------------------

@pytest.fixture
def ray_cluster():
    """A 4-CPU Ray cluster of its own on 127.0.0.1 (`ray start --head`)."""
    with local_cluster(nodes=1, cpus_per_node=4) as address:
        yield address


@pytest.mark.slow
def test_a_ray_cluster_asks_one_host_at_most_max_per_host_at_once(ray_cluster, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    rows = []
    for i in range(8):
        (served / f"v{i}.mp4").write_bytes(b"not a video " * 100)
        rows.append({"compilation_id": f"c{i}", "url": "", "clip_id": f"k{i}", "start_s": 0, "end_s": 3,
                     "song_id": "s", "num_dancers": ""})
    config = tmp_path / "polite.yaml"
    config.write_text("download:\n  max_per_host: 2\n  retries: 0\n")
    with serve_host(served, delay_s=0.5) as host:
        manifest = tmp_path / "manifest.csv"
        pd.DataFrame([{**row, "url": f"{host.url}/v{i}.mp4"} for i, row in enumerate(rows)]).to_csv(manifest,
                                                                                                    index=False)
        result = CliRunner().invoke(cli, ["build", str(manifest), "--out", str(tmp_path / "out"), "--no-progress",
                                          "--config", str(config), "--ray-address", ray_cluster])
    assert result.exit_code == 1, result.output  # every "video" is unreadable: all fail after their download
    assert all(f"/v{i}.mp4" in host.requests for i in range(8))
    assert host.max_in_flight == 2, host.max_in_flight



@pytest.mark.slow
def test_workers_of_a_joined_cluster_keep_private_numba_caches(ray_cluster):
    """The librosa segfault fix (each worker its own numba cache) holds on a cluster the build joins, too."""
    from tiktok_dm.config import ExecutorConfig

    seen = worker_numba_caches(ExecutorConfig(kind="ray", ray_address=ray_cluster), tasks=8)
    assert all(folder and f"numba-{pid}-" in folder for pid, folder in seen.items()), seen
    assert len(set(seen.values())) == len(seen)
