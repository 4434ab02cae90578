from __future__ import annotations

import os

import pytest

from tiktok_dm.config import ExecutorConfig
from tiktok_dm.distribute import (DRIVER_PID_FILE, LocalExecutor, RayExecutor, get_executor, remove_orphaned_ray_dirs,
                                  run_stage)
from tiktok_dm.records import Status
from tiktok_dm.testing.dummies import ScriptedStage
from tiktok_dm.workdir import BuildDir


def test_local_executor_turns_errors_into_failure_rows(tmp_path):
    stage = ScriptedStage(BuildDir(tmp_path))
    results = run_stage(LocalExecutor(), stage, ["a", "bad", "bug", "b"], progress=False)
    assert [r.status for r in results] == [Status.OK, Status.FAILED, Status.FAILED, Status.OK]
    assert results[1].error == "bad input data"
    assert results[2].error.startswith("unexpected ZeroDivisionError: division by zero")
    # Every item has its record on disk, the failures too.
    assert {r.key for r in BuildDir(tmp_path).results("scripted")} == {"a", "bad", "bug", "b"}


def test_done_items_are_skipped_and_failures_retried(tmp_path):
    build_dir = BuildDir(tmp_path)
    stage = ScriptedStage(build_dir)
    run_stage(LocalExecutor(), stage, ["a", "bad"], progress=False)
    first = build_dir.record_path("scripted", "a").stat().st_mtime_ns
    failed_first = build_dir.record_path("scripted", "bad").stat().st_mtime_ns
    run_stage(LocalExecutor(), stage, ["a", "bad"], progress=False)
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
        results = run_stage(executor, stage, ["a", "crash", "bad", "b"], progress=False)
    finally:
        executor.close()
    by_key = {r.key: r for r in results}
    assert by_key["a"].ok and by_key["b"].ok
    assert by_key["bad"].error == "bad input data"
    crash = by_key["crash"]
    assert crash.status is Status.FAILED
    assert "worker crashed after 1 retries" in crash.error
    assert BuildDir(tmp_path).read_result("scripted", "crash").status is Status.FAILED


def test_every_pipeline_stage_meets_the_stage_contract(tmp_path):
    from tiktok_dm.config import BuildConfig
    from tiktok_dm.stages.base import Stage
    from tiktok_dm.stages.cut import CutStage
    from tiktok_dm.stages.download import DownloadStage
    from tiktok_dm.stages.pose import PoseStage
    from tiktok_dm.stages.segments import SegmentStage

    config = BuildConfig()
    stages = [DownloadStage(config.download, BuildDir(tmp_path)), CutStage(config.cut, BuildDir(tmp_path)),
              PoseStage(config.pose, BuildDir(tmp_path)), SegmentStage(config.segment, BuildDir(tmp_path))]
    assert [stage.name for stage in stages] == ["download", "cut", "pose", "segments"]
    assert all(isinstance(stage, Stage) for stage in stages)


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
    executor = RayExecutor(ExecutorConfig(kind="ray", num_cpus=2))
    try:
        import ray

        @ray.remote
        def cache_dir():
            import numba

            return os.getpid(), numba.config.CACHE_DIR

        seen = dict(ray.get([cache_dir.remote() for _ in range(6)]))
    finally:
        executor.close()
    assert all(folder and "tdm-ray-" in folder and f"numba-{pid}-" in folder for pid, folder in seen.items()), seen
    assert len(set(seen.values())) == len(seen)
