from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ray_clusters import local_cluster, processes
from tiktok_dm.config import ExecutorConfig
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.model.status import ErrorKind, Status
from tiktok_dm.pipeline.distribute import (DRIVER_PID_FILE, LocalExecutor, RayExecutor, get_executor,
                                           remove_orphaned_ray_dirs, run_stage)
from tiktok_dm.testing.dummies import EchoOutput, ScriptedItem, ScriptedStage


def _items(*names: str) -> list[ScriptedItem]:
    return [ScriptedItem(name) for name in names]


def test_local_executor_turns_errors_into_failed_and_crashed_records(tmp_path):
    stage = ScriptedStage(BuildDir(tmp_path))
    results = run_stage(LocalExecutor(), stage, _items("a", "bad", "bug", "b"), progress=False)
    assert [r.status for r in results] == [Status.OK, Status.FAILED, Status.CRASHED, Status.OK]
    assert [r.error_kind for r in results] == [None, ErrorKind.BAD_INPUT, ErrorKind.EXCEPTION, None]
    assert results[1].error == "bad input data"
    assert results[2].error.startswith("unexpected ZeroDivisionError: division by zero")
    assert results[0].output == EchoOutput(echo="a", pid=os.getpid())
    # Every item has its record on disk, the failures too, and reads back as it was written.
    on_disk = {r.key: r for r in BuildDir(tmp_path).records(EchoOutput)}
    assert set(on_disk) == {"a", "bad", "bug", "b"}
    assert on_disk["a"] == results[0] and on_disk["bug"] == results[2]


def test_done_items_are_skipped_and_failures_retried(tmp_path):
    build_dir = BuildDir(tmp_path)
    stage = ScriptedStage(build_dir)
    run_stage(LocalExecutor(), stage, _items("a", "bad"), progress=False)
    first = build_dir.record_path("scripted", "a").stat().st_mtime_ns
    failed_first = build_dir.record_path("scripted", "bad").stat().st_mtime_ns
    run_stage(LocalExecutor(), stage, _items("a", "bad"), progress=False)
    assert build_dir.record_path("scripted", "a").stat().st_mtime_ns == first
    assert build_dir.record_path("scripted", "bad").stat().st_mtime_ns > failed_first


def test_unknown_executor_is_named():
    with pytest.raises(ValueError, match="unknown executor 'spark'"):
        get_executor(ExecutorConfig(kind="spark"))


@pytest.mark.slow
def test_ray_retries_a_crashed_worker_then_records_the_failure(tmp_path):
    executor = RayExecutor(ExecutorConfig(kind="ray", num_cpus=2, max_retries=1))
    try:
        stage = ScriptedStage(BuildDir(tmp_path))
        results = run_stage(executor, stage, _items("a", "crash", "bad", "b"), progress=False)
    finally:
        executor.close()
    by_key = {r.key: r for r in results}
    assert by_key["a"].ok and by_key["b"].ok
    assert by_key["bad"].error == "bad input data" and by_key["bad"].status is Status.FAILED
    crash = by_key["crash"]
    assert crash.status is Status.CRASHED and crash.error_kind is ErrorKind.WORKER_DIED
    assert "worker crashed after 1 retries" in crash.error
    assert BuildDir(tmp_path).read_record(EchoOutput, "crash").status is Status.CRASHED


def test_orphaned_ray_folders_of_dead_drivers_are_removed(tmp_path):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan, live, foreign = tmp_path / "tdm-ray-orphan", tmp_path / "tdm-ray-live", tmp_path / "tdm-ray-foreign"
    for folder in (orphan, live, foreign):
        (folder / "session").mkdir(parents=True)
    (orphan / DRIVER_PID_FILE).write_text(str(dead.pid))
    (live / DRIVER_PID_FILE).write_text(str(os.getpid()))
    # no driver.pid: not ours to judge

    assert remove_orphaned_ray_dirs(tmp_path) == [orphan]
    assert not orphan.exists() and live.exists() and foreign.exists()


def test_ray_workers_keep_private_numba_caches():
    """librosa's numba cache in site-packages is corrupted by workers compiling at once (a segfault ever after)."""
    seen = worker_numba_caches(ExecutorConfig(kind="ray", num_cpus=2), tasks=6)
    assert all(folder and "tdm-ray-" in folder and f"numba-{pid}-" in folder for pid, folder in seen.items()), seen
    assert len(set(seen.values())) == len(seen)


def worker_numba_caches(config: ExecutorConfig, tasks: int) -> dict[int, str]:
    """Worker pid -> its numba cache folder, from ``tasks`` Ray tasks run by a RayExecutor of ``config``."""
    executor = RayExecutor(config)
    try:
        import ray

        @ray.remote
        def cache_dir():
            import numba

            return os.getpid(), numba.config.CACHE_DIR

        return dict(ray.get([cache_dir.remote() for _ in range(tasks)]))
    finally:
        executor.close()


def test_a_dead_ray_address_is_named_within_seconds(tmp_path):
    """Nothing listens at the address: the build ends at once with exit 3 and the address, before any work."""
    import socket
    import time

    from click.testing import CliRunner

    from tiktok_dm.cli import cli

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the socket is closed
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("compilation_id,url,clip_id,start_s,end_s,song_id,num_dancers\n"
                        "c0,http://127.0.0.1:9/v.mp4,k0,0,4,s0,1\n")
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["build", str(manifest), "--out", str(tmp_path / "out"),
                                      "--ray-address", f"127.0.0.1:{port}"])
    assert result.exit_code == 3, result.output
    assert time.monotonic() - started < 30
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in result.stderr and "ray start --head" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("address, head", [("10.1.2.3:6379", "10.1.2.3:6379"), ("ray://head.local:10001/",
                                                                                  "head.local:10001")])
def test_ray_addresses_name_their_head(address, head):
    from tiktok_dm.pipeline.distribute import head_address

    assert head_address(address) == head


def test_a_malformed_ray_address_is_refused():
    from tiktok_dm.pipeline.distribute import ClusterUnavailable, head_address

    with pytest.raises(ClusterUnavailable, match="not host:port"):
        head_address("headnode")


@pytest.mark.slow
def test_a_cluster_lost_mid_stage_ends_the_stage_with_what_finished(tmp_path):
    """The cluster's head dies while items run: ClusterLost names it within lost_after_s, finished items keep
    their records (Ray alone would end the whole process 60 s later with its own message)."""
    import signal
    import time

    from tiktok_dm.pipeline.distribute import ClusterLost

    executor = RayExecutor(ExecutorConfig(kind="ray", num_cpus=1, lost_after_s=4.0))
    try:
        stage = ScriptedStage(BuildDir(tmp_path))
        results = executor.map(stage, _items("a", "sleep:60", "sleep:60"))
        assert next(results).key == "a"
        heads = [pid for pid, command in processes() if "gcs_server" in command and executor._temp_dir in command]
        assert len(heads) == 1, heads
        os.kill(heads[0], signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(ClusterLost, match="stopped answering during stage scripted"):
            next(results)
        assert time.monotonic() - started < 4.0 + 10
    finally:
        executor.close()
    assert BuildDir(tmp_path).read_record(EchoOutput, "a").ok
    assert BuildDir(tmp_path).read_record(EchoOutput, "sleep:60") is None


@pytest.mark.slow
def test_a_two_node_cluster_shares_the_work_and_builds_the_same_dataset(tmp_path):
    """A head and a second node (Ray's multi-node test cluster, one CPU each, on 127.0.0.1): items run on both (each record names its node) and the
    dataset equals a local build's (the url column aside: the demo serves on a new loopback port each time)."""
    import json

    import pandas as pd

    def demo(out, *executor):
        done = subprocess.run([sys.executable, "-m", "tiktok_dm.cli", "demo", "--out", str(out), "--no-progress",
                               *executor], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        return out / "build"

    with local_cluster(nodes=2, cpus_per_node=1) as address:
        on_cluster = demo(tmp_path / "cluster", "--ray-address", address)
    local = demo(tmp_path / "local", "--executor", "local")
    nodes = {json.loads(path.read_text())["node"] for path in (on_cluster / "results").glob("*/*.json")}
    assert len(nodes) == 2 and "" not in nodes and "local" not in nodes, nodes
    assert {json.loads(path.read_text())["node"] for path in (local / "results").glob("*/*.json")} == {"local"}
    for shard in sorted((local / "dataset" / "data").glob("*/*.parquet")):
        ours, theirs = pd.read_parquet(on_cluster / "dataset" / "data" / shard.parent.name / shard.name), \
            pd.read_parquet(shard)
        assert ours.drop(columns="url", errors="ignore").astype(str).equals(
            theirs.drop(columns="url", errors="ignore").astype(str)), shard.name


@pytest.mark.slow
def test_a_joined_cluster_runs_the_package_the_build_sends():
    """--ray-address: the job carries this installation's tiktok_dm (runtime_env py_modules), and the workers
    import that copy, not whatever the node has installed."""
    from tiktok_dm.pipeline.distribute import PACKAGE_DIR, cluster_runtime_env

    assert cluster_runtime_env(ExecutorConfig(ship_package=False)) == {
        "worker_process_setup_hook": "tiktok_dm.pipeline.distribute.use_private_numba_cache"}
    assert cluster_runtime_env(ExecutorConfig(worker_pip=["librosa==0.11.0"]))["pip"] == ["librosa==0.11.0"]
    with local_cluster(nodes=1, cpus_per_node=2) as address:
        executor = RayExecutor(ExecutorConfig(kind="ray", ray_address=address))
        try:
            import ray

            @ray.remote
            def where():
                import tiktok_dm.pipeline.distribute

                return tiktok_dm.pipeline.distribute.__file__, ray.get_runtime_context().runtime_env
            module_file, runtime_env = ray.get(where.remote())
        finally:
            executor.close()
    assert runtime_env["py_modules"] and "worker_process_setup_hook" in runtime_env
    assert not module_file.startswith(str(PACKAGE_DIR))  # the shipped copy, unpacked by Ray on the node
    assert module_file.endswith("tiktok_dm/pipeline/distribute.py") and "runtime_resources" in module_file
