"""`tiktok-dm publish` to a loopback stand-in of the Hub, read back by the real, unpatched `datasets` and
`huggingface_hub` clients (and `d2m-train --hf-dataset ORG/NAME@TAG`) through HF_ENDPOINT.

The clients run in subprocesses: both read HF_ENDPOINT when they are imported. HF_HUB_DISABLE_XET=1 makes
huggingface_hub upload through the LFS protocol the stand-in serves (the real Hub also takes Xet uploads,
which the stand-in does not speak).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tiktok_dm.testing.hub import serve_hub

VENV_BIN = Path(sys.executable).parent
REPO_ID = "dance-lab/tiktok-dm-demo"

READ_BACK = textwrap.dedent("""
    import hashlib, json, sys
    import datasets
    datasets.disable_progress_bars()
    local_folder, repo_id, revision = sys.argv[1:4]
    found = {}
    for config in ("clips", "segments"):
        for split in ("train", "test"):
            local = datasets.load_dataset(local_folder, config, split=split, cache_dir=sys.argv[4] + "/local")
            hub = datasets.load_dataset(repo_id, config, split=split, revision=revision, cache_dir=sys.argv[4] + "/hub")
            streamed = list(datasets.load_dataset(repo_id, config, split=split, revision=revision, streaming=True)
                            .cast_column("audio", datasets.Audio(decode=False)))
            local_rows = list(local.cast_column("audio", datasets.Audio(decode=False)))
            key = "clip_id" if config == "clips" else "segment"
            found[f"{config}/{split}"] = {
                "rows": len(local),
                "table_equal": local.with_format("arrow")[:].equals(hub.with_format("arrow")[:]),
                "streamed_keys_equal": [r[key] for r in streamed] == [r[key] for r in local_rows],
                "streamed_audio_equal": [hashlib.sha256(r["audio"]["bytes"]).hexdigest() for r in streamed]
                                        == [hashlib.sha256(r["audio"]["bytes"]).hexdigest() for r in local_rows],
            }
    print(json.dumps(found))
""")

D2M_READ = textwrap.dedent("""
    import json, sys
    from d2m_train.data.hf import HubDataset, content_key, segments_from_hf_dataset
    spec = segments_from_hf_dataset(sys.argv[1], "train", cache_dir=sys.argv[2], progress=False)
    hub = HubDataset.resolve(sys.argv[1])
    print(json.dumps({"segments": sorted(s.name for s in spec.segments), "commit": hub.commit,
                      "cache": content_key(hub)}))
""")


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    subprocess.run([str(VENV_BIN / "tiktok-dm"), "demo", "--out", str(root), "--executor", "local", "--no-progress"],
                   check=True, capture_output=True, timeout=900)
    return root / "build"


def _env(hub, tmp_path, token=None):
    return {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": token or hub.token, "HF_HUB_DISABLE_XET": "1",
            "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def _run(args, env, timeout=600):
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.mark.slow
def test_publish_round_trip_through_a_loopback_hub(demo_build, tmp_path):
    import pyarrow.parquet as pq

    folder = demo_build / "dataset"
    with serve_hub(tmp_path / "hub") as hub:
        env = _env(hub, tmp_path)
        first = _run([str(VENV_BIN / "tiktok-dm"), "publish", str(demo_build), "--repo-id", REPO_ID, "--tag", "v1"],
                     env)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "published at commit" in first.stdout and "tag v1" in first.stdout
        assert hub.token not in first.stdout + first.stderr
        published = hub.files(REPO_ID)
        local = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        assert published == local

        read = _run([sys.executable, "-c", READ_BACK, str(folder), REPO_ID, "v1", str(tmp_path / "cache")], env)
        assert read.returncode == 0, read.stderr[-3000:]
        found = json.loads(read.stdout.strip().splitlines()[-1])
        assert set(found) == {"clips/train", "clips/test", "segments/train", "segments/test"}
        for name, checks in found.items():
            assert checks["table_equal"] and checks["streamed_keys_equal"] and checks["streamed_audio_equal"], name
        assert found["segments/train"]["rows"] == pq.read_metadata(
            next((folder / "data" / "segments").glob("train-*.parquet"))).num_rows > 0

        uploads, commits = list(hub.uploads), list(hub.commits)
        again = _run([str(VENV_BIN / "tiktok-dm"), "publish", str(demo_build), "--repo-id", REPO_ID], env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "unchanged" in again.stdout
        assert hub.uploads == uploads and hub.commits == commits  # nothing new went up, no new commit

        d2m = _run([sys.executable, "-c", D2M_READ, f"{REPO_ID}@v1", str(tmp_path / "d2m_cache")], env)
        assert d2m.returncode == 0, d2m.stderr[-3000:]
        result = json.loads(d2m.stdout.strip().splitlines()[-1])
        assert result["commit"] == commits[-1]
        assert (tmp_path / "d2m_cache" / result["cache"] / "audio_s2").is_dir()
        expected = sorted(pq.read_table(next((folder / "data" / "segments").glob("train-*.parquet")),
                                        columns=["segment"]).column("segment").to_pylist())
        assert result["segments"] == expected

        stranger = _run([sys.executable, "-c", READ_BACK, str(folder), REPO_ID, "v1", str(tmp_path / "cache2")],
                        _env(hub, tmp_path / "stranger", token="hf_not_the_token"))
        assert stranger.returncode != 0  # a private repository is not read with another token
