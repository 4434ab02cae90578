"""The loopback Hub (tiktok_dm.testing.hub) against the real, unpatched huggingface_hub and datasets clients.

The clients run in a subprocess: both libraries read HF_ENDPOINT when they are imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tiktok_dm.testing.hub import serve_hub

REPO = "org/name"

CARD = """\
---
configs:
- config_name: clips
  data_files:
  - split: train
    path: data/clips/train-*.parquet
  - split: test
    path: data/clips/test-*.parquet
- config_name: segments
  data_files:
  - split: train
    path: data/segments/train-*.parquet
  - split: test
    path: data/segments/test-*.parquet
---
# A test dataset

Two configs, written by the test.
"""

PUBLISH = """
api = HfApi()
out["whoami"] = api.whoami()["name"]
api.create_repo(REPO, repo_type="dataset", private=True, exist_ok=True)
api.create_repo(REPO, repo_type="dataset", private=True, exist_ok=True)  # exists: the 409 path of exist_ok
out["commit"] = api.upload_folder(repo_id=REPO, repo_type="dataset", folder_path=FOLDER, commit_message="build 1").oid
api.create_tag(REPO, repo_type="dataset", tag="v1")
refs = api.list_repo_refs(REPO, repo_type="dataset")
out["tags"] = {ref.name: ref.target_commit for ref in refs.tags}
out["branches"] = {ref.name: ref.target_commit for ref in refs.branches}
out["v1_sha"] = api.dataset_info(REPO, revision="v1").sha
out["tree"] = sorted(f.path for f in api.list_repo_tree(REPO, repo_type="dataset", recursive=True)
                     if f.__class__.__name__ == "RepoFile")
out["train"] = datasets.load_dataset(REPO, "clips", split="train").to_pandas().to_dict("records")
out["streamed"] = list(datasets.load_dataset(REPO, "clips", split="train", streaming=True))
v1_test = datasets.load_dataset(REPO, "segments", split="test", revision="v1")
out["v1_segments_test"] = v1_test.to_pandas().to_dict("records")
out["snapshot"] = snapshot_download(REPO, repo_type="dataset", revision="v1")
"""

REPUBLISH = """
api = HfApi()
before = api.dataset_info(REPO).sha
out["commit"] = api.upload_folder(repo_id=REPO, repo_type="dataset", folder_path=FOLDER,
                                  delete_patterns=["data/**/*.parquet"], commit_message="build 1 again").oid
out["unchanged_head"] = api.dataset_info(REPO).sha == before
# Delete and re-add the same file in one commit: the client cannot drop it as a no-op, so the Hub gets a commit whose
# tree equals its parent's (the LFS content is stored already: nothing is uploaded).
path = "data/clips/test-00000-of-00001.parquet"
ops = [CommitOperationDelete(path), CommitOperationAdd(path, str(Path(FOLDER) / path))]
out["same_tree_commit"] = api.create_commit(REPO, repo_type="dataset", operations=ops, commit_message="same").oid
"""

NO_TOKEN = """
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
api = HfApi(token=False)
try:
    api.dataset_info(REPO)
    out["info"] = "read"
except RepositoryNotFoundError as error:
    out["info"] = error.response.status_code
try:
    api.hf_hub_download(REPO, "README.md", repo_type="dataset")
    out["download"] = "read"
except HfHubHTTPError as error:
    out["download"] = error.response.status_code
except Exception as error:  # the client turns an unreachable file into its own error when nothing is cached
    out["download"] = type(error).__name__ + (f" from {error.__cause__.response.status_code}"
                                              if isinstance(error.__cause__, HfHubHTTPError) else "")
try:
    datasets.load_dataset(REPO, "clips", split="train", token=False)
    out["load"] = "read"
except Exception as error:
    out["load"] = type(error).__name__
try:
    api.create_repo("org/other", repo_type="dataset", exist_ok=True)
    out["create"] = "created"
except HfHubHTTPError as error:
    out["create"] = error.response.status_code
"""


def _frames() -> dict[str, pd.DataFrame]:
    def clips(first: int, n: int) -> pd.DataFrame:
        return pd.DataFrame({"clip_id": [f"clip{i:03d}" for i in range(first, first + n)],
                             "start_s": [i * 1.5 for i in range(first, first + n)],
                             "n_frames": [100 + i for i in range(first, first + n)]})

    def segments(first: int, n: int) -> pd.DataFrame:
        return pd.DataFrame({"segment_id": [f"seg{i:03d}" for i in range(first, first + n)],
                             "clip_id": [f"clip{i // 2:03d}" for i in range(first, first + n)],
                             "song": ["a" if i % 3 else "b" for i in range(first, first + n)]})

    return {"data/clips/train-00000-of-00002.parquet": clips(0, 4),
            "data/clips/train-00001-of-00002.parquet": clips(4, 3),
            "data/clips/test-00000-of-00001.parquet": clips(7, 2),
            "data/segments/train-00000-of-00001.parquet": segments(0, 6),
            "data/segments/test-00000-of-00001.parquet": segments(6, 3)}


def _write_dataset(folder: Path) -> None:
    (folder / "README.md").parent.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(CARD)
    for path, frame in _frames().items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / path, index=False)


def _local_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _records(folder: Path, *paths: str) -> list[dict]:
    return pd.concat([pd.read_parquet(folder / path) for path in paths]).to_dict("records")


def _run_clients(hub, tmp_path: Path, body: str, folder: Path, home: str = "hf_home", token: bool = True) -> dict:
    """Run ``body`` in a new Python process whose clients talk to ``hub``; returns the ``out`` dict it fills."""
    script = textwrap.dedent("""
        import json, sys
        from pathlib import Path
        import datasets
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, snapshot_download
        REPO, FOLDER = sys.argv[1], sys.argv[2]
        out = {}
    """) + textwrap.dedent(body) + "\nprint('RESULT:' + json.dumps(out, default=str))\n"
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": hub.token, "HF_HUB_DISABLE_XET": "1",
           "HF_HOME": str(tmp_path / home), "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    if not token:
        del env["HF_TOKEN"]
    run = subprocess.run([sys.executable, "-c", script, REPO, str(folder)], env=env, capture_output=True, text=True,
                         timeout=120)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT:")]
    assert run.returncode == 0 and lines, f"client process failed (rc {run.returncode}):\n{run.stdout}\n{run.stderr}"
    return json.loads(lines[-1][len("RESULT:"):])


@pytest.mark.timeout(240)
def test_real_clients_publish_and_read_through_the_loopback_hub(tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    _write_dataset(folder)
    local = _local_files(folder)

    with serve_hub(tmp_path / "hub") as hub:
        assert hub.url.startswith("http://127.0.0.1:") and not hub.url.endswith("/")
        hub.tree_page_size = 3  # every listing of this repository takes several pages (Link: rel="next")

        # 1-3: create, upload, tag; read back with datasets (in memory, streaming, at the tag) and snapshot_download
        out = _run_clients(hub, tmp_path, PUBLISH, folder)
        assert out["whoami"] == "loopback"
        assert out["tags"] == {"v1": out["commit"]}
        assert out["branches"] == {"main": out["commit"]}
        assert out["v1_sha"] == out["commit"] == hub.commits[-1]
        assert out["tree"] == sorted(local)
        assert sorted(hub.uploads) == sorted(local), "each file's content was received exactly once"
        parquet = [path for path in local if path.endswith(".parquet")]
        lfs_puts = [r for r in hub.requests if r.startswith("PUT /lfs-upload/datasets/org/name/")]
        assert len(lfs_puts) == len(parquet), "each parquet file went through one LFS PUT; README.md inline"
        assert hub.files(REPO, "v1") == local == hub.files(REPO, out["commit"])

        train = _records(folder, "data/clips/train-00000-of-00002.parquet", "data/clips/train-00001-of-00002.parquet")
        assert out["train"] == train
        assert out["streamed"] == train
        assert out["v1_segments_test"] == _records(folder, "data/segments/test-00000-of-00001.parquet")
        assert any(r.startswith("GET /datasets/org/name/resolve/") for r in hub.requests)

        snapshot = Path(out["snapshot"])
        assert _local_files(snapshot) == local
        assert snapshot.name == out["v1_sha"], "the snapshot is the tag's commit"

        # 4: publishing the unchanged folder again uploads nothing; an explicit same-tree commit is accepted
        uploads, commits = list(hub.uploads), list(hub.commits)
        again = _run_clients(hub, tmp_path, REPUBLISH, folder)
        assert hub.uploads == uploads, "re-publishing an unchanged build uploaded content"
        assert again["unchanged_head"] and again["commit"] == out["commit"], "the client skipped the empty commit"
        assert hub.commits == [*commits, again["same_tree_commit"]]
        assert hub.files(REPO, again["same_tree_commit"]) == local
        assert hub.files(REPO, "v1") == local

        # 5: without a token the private repository cannot be read (401), nor written to
        anonymous = _run_clients(hub, tmp_path, NO_TOKEN, folder, home="hf_home_anonymous", token=False)
        assert anonymous["info"] == 401
        assert anonymous["download"] in (401, "LocalEntryNotFoundError from 401")
        assert anonymous["load"] == "DatasetNotFoundError"
        assert anonymous["create"] == 401


MORE = """
from huggingface_hub import HfFileSystem, hf_hub_download

def error(call):
    try:
        call()
        return "no error"
    except Exception as e:
        response = getattr(e, "response", None)
        return [type(e).__name__, getattr(response, "status_code", None)]

api = HfApi()
api.create_repo(REPO, repo_type="dataset", private=True)
out["again"] = error(lambda: api.create_repo(REPO, repo_type="dataset", private=True))
first = api.upload_folder(repo_id=REPO, repo_type="dataset", folder_path=FOLDER).oid
second = api.upload_file(path_or_fileobj=b"hello\\n", path_in_repo="notes/hello.txt", repo_id=REPO,
                         repo_type="dataset").oid
out["first"], out["second"] = first, second
out["history"] = [c.commit_id for c in api.list_repo_commits(REPO, repo_type="dataset")]
out["last_commits"] = {f.path: f.last_commit.oid for f in api.list_repo_tree(REPO, repo_type="dataset", expand=True)}
out["paths_info"] = [[type(f).__name__, f.path] for f in api.get_paths_info(
    REPO, ["README.md", "data", "absent.txt"], repo_type="dataset")]
fs = HfFileSystem()
path = f"datasets/{REPO}/data/clips/test-00000-of-00001.parquet"
with fs.open(path, "rb", block_size=16) as f:  # byte ranges of 16
    f.seek(10)
    out["range"] = f.read(40).hex()
with fs.open(path, "rb", block_size=0) as f:  # one streamed GET
    f.read(100)
    out["stream"] = f.read(30).hex()
out["bad_revision"] = error(lambda: api.dataset_info(REPO, revision="nope"))
out["absent_file"] = error(lambda: hf_hub_download(REPO, "absent.txt", repo_type="dataset"))
out["absent_repo"] = error(lambda: api.dataset_info("org/absent"))
api.create_branch(REPO, repo_type="dataset", branch="dev", revision=first)
dev = api.upload_file(path_or_fileobj=b"dev", path_in_repo="dev.txt", repo_id=REPO, repo_type="dataset",
                      revision="dev").oid
out["dev"] = [api.dataset_info(REPO, revision="refs/heads/dev").sha == dev,
              sorted(api.list_repo_files(REPO, repo_type="dataset", revision="dev"))]
api.create_tag(REPO, repo_type="dataset", tag="t", revision="dev")
out["tag_twice"] = error(lambda: api.create_tag(REPO, repo_type="dataset", tag="t"))
out["commit_to_oid"] = error(lambda: api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=REPO,
                                                     repo_type="dataset", revision=first))
out["stale_parent"] = error(lambda: api.upload_file(path_or_fileobj=b"y", path_in_repo="y.txt", repo_id=REPO,
                                                    repo_type="dataset", parent_commit=first))
api.delete_folder("data/segments", REPO, repo_type="dataset")
out["after_delete"] = sorted(api.list_repo_files(REPO, repo_type="dataset"))
api.update_repo_settings(REPO, repo_type="dataset", private=False, gated="manual")
anonymous = HfApi(token=False)
out["gated"] = [anonymous.dataset_info(REPO).gated, error(
    lambda: anonymous.hf_hub_download(REPO, "README.md", repo_type="dataset", local_dir=FOLDER + "-1"))]
api.update_repo_settings(REPO, repo_type="dataset", gated=False)
readme = anonymous.hf_hub_download(REPO, "README.md", repo_type="dataset", local_dir=FOLDER + "-2")
out["public"] = Path(readme).read_text() == Path(FOLDER, "README.md").read_text()
out["wrong_token"] = error(lambda: HfApi(token="hf_wrong").dataset_info(REPO))
api.create_repo("org/model")
api.upload_file(path_or_fileobj=bytes(2000), path_in_repo="w.bin", repo_id="org/model")
out["model"] = [len(Path(hf_hub_download("org/model", "w.bin")).read_bytes()),
                [s.lfs is not None for s in api.model_info("org/model", files_metadata=True).siblings]]
api.delete_repo("org/model")
out["model_deleted"] = not api.repo_exists("org/model")
"""


@pytest.mark.timeout(120)
def test_loopback_hub_history_refs_ranges_and_errors(tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    _write_dataset(folder)
    local = (folder / "data/clips/test-00000-of-00001.parquet").read_bytes()

    with serve_hub(tmp_path / "hub") as hub:
        out = _run_clients(hub, tmp_path, MORE, folder)
        initial = hub.commits[0]

        assert out["again"] == ["HfHubHTTPError", 409]
        assert out["history"] == [out["second"], out["first"], initial]
        assert out["last_commits"] == {"README.md": out["first"], "data": out["first"], "notes": out["second"]}
        assert out["paths_info"] == [["RepoFile", "README.md"], ["RepoFolder", "data"]]
        assert bytes.fromhex(out["range"]) == local[10:50]
        assert bytes.fromhex(out["stream"]) == local[100:130]
        assert out["bad_revision"] == ["RevisionNotFoundError", 404]
        assert out["absent_file"] == ["RemoteEntryNotFoundError", 404]
        assert out["absent_repo"] == ["RepositoryNotFoundError", 404]
        assert out["dev"] == [True, sorted([*_local_files(folder), "dev.txt"])]
        assert out["tag_twice"] == ["HfHubHTTPError", 409]
        assert out["commit_to_oid"] == ["BadRequestError", 400], "a commit goes to a branch, not a commit oid"
        assert out["stale_parent"] == ["HfHubHTTPError", 412]
        kept = sorted(p for p in _local_files(folder) if "segments" not in p)
        assert out["after_delete"] == [*kept, "notes/hello.txt"]
        assert out["gated"] == ["manual", ["GatedRepoError", 401]]
        assert out["public"] is True
        assert out["wrong_token"] == ["HfHubHTTPError", 401]
        assert out["model"] == [2000, [True]]
        assert out["model_deleted"] is True
        assert set(hub.files(REPO, "dev")) == {*_local_files(folder), "dev.txt"}
        with pytest.raises(KeyError):
            hub.files(REPO, "no-such-revision")
