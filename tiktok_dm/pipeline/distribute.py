"""Executors: run one stage over many items, locally or as Ray tasks, behind one interface.

``import ray`` happens only here. Data problems and exceptions come back as failed or crashed
records from ``run_item``; what the executor adds is the case where the worker process itself dies
(OOM killer, segfault in a native library): Ray re-runs the task ``max_retries`` times, then the
item is recorded as crashed (``ErrorKind.WORKER_DIED``) and the run goes on. A stage that groups its
items (``Stage.concurrency_group``: downloads by host) has at most ``max_per_group`` of a group running at
once, however many workers the cluster has: the driver holds the rest back (``GroupGate``).

A cluster is another matter: ``--ray-address`` where nothing answers raises ``ClusterUnavailable``
within ``executor.connect_timeout_s`` (Ray itself would retry for minutes), and a cluster whose head
stops answering mid-stage raises ``ClusterLost`` after ``executor.lost_after_s`` (Ray itself would end
the process after 60 s with its own message): items finished before keep their records, and the
same build run again resumes.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol

from tqdm.auto import tqdm

from tiktok_dm.config import ExecutorConfig
from tiktok_dm.model.records import StageRecord
from tiktok_dm.model.status import ErrorKind, Status
from tiktok_dm.stages.base import Stage, is_done, record_result, run_item

log = logging.getLogger(__name__)


class Executor(Protocol):
    # How many items it runs at once (a stage may use fewer processes per item when it is > 1).
    concurrency: int

    def map(self, stage: Stage, items: Iterable[Any]) -> Iterator[StageRecord]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Items one after another in this process: the reference behaviour, used by tests and debugging."""

    concurrency = 1

    def map(self, stage: Stage, items: Iterable[Any]) -> Iterator[StageRecord]:
        for item in items:
            yield run_item(stage, item)

    def close(self) -> None:
        pass


class GroupGate:
    """Which items may start: at most ``stage.max_per_group`` of one ``stage.concurrency_group`` at once, the rest
    held back in order until one of their group finishes (items without a group start at once)."""

    def __init__(self, stage: Stage):
        self._stage = stage
        self._running: collections.Counter[str] = collections.Counter()
        self._waiting: dict[str, collections.deque] = collections.defaultdict(collections.deque)

    def admit(self, items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            group = self._stage.concurrency_group(item)
            if group is None:
                yield item
            elif self._running[group] < self._stage.max_per_group:
                self._running[group] += 1
                yield item
            else:
                self._waiting[group].append(item)

    def release(self, item: Any) -> Iterator[Any]:
        """``item`` finished: the next waiting item of its group, if any, may start."""
        group = self._stage.concurrency_group(item)
        if group is None:
            return
        self._running[group] -= 1
        if self._waiting[group]:
            self._running[group] += 1
            yield self._waiting[group].popleft()


class ClusterUnavailable(RuntimeError):
    """No Ray cluster answers at the address given: nothing was run."""


class ClusterLost(RuntimeError):
    """The Ray cluster stopped answering during a stage; what finished before has its records."""


RAY_DIR_PREFIX = "tdm-ray-"
# Where `ray start` leaves the address of the cluster it runs on this machine (what --ray-address auto joins).
RAY_CURRENT_CLUSTER = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
# How often a stage waiting on its tasks checks that the cluster's head still answers.
POLL_S = 2.0
DRIVER_PID_FILE = "driver.pid"
NUMBA_PARENT_ENV = "TIKTOK_DM_NUMBA_CACHE_PARENT"
NUMBA_SETUP_HOOK = "tiktok_dm.pipeline.distribute.use_private_numba_cache"
# The tiktok_dm package of this installation (what a joined cluster's workers get with the job).
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def use_private_numba_cache() -> None:
    """Ray worker setup: give this process its own numba cache folder.

    librosa compiles with ``cache=True`` into site-packages, and numba's cache is not safe when
    several processes compile the same function at once: after a Ray build's workers did, the
    index pointed at another process's machine code and every later ``librosa.beat`` call in that
    venv segfaulted (reproduced on a fresh install; deleting the cache files cured it). Must run
    before numba is imported, which a Ray setup hook does.
    """
    parent = os.environ.get(NUMBA_PARENT_ENV) or tempfile.gettempdir()
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix=f"numba-{os.getpid()}-", dir=parent)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphaned_ray_dirs(parent: str | Path | None = None) -> list[Path]:
    """Delete private Ray folders whose driver is gone (a SIGKILLed build cannot clean up after itself).

    Only folders holding our ``driver.pid`` with a dead process are touched; returns what was removed.
    """
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{RAY_DIR_PREFIX}*"):
        try:
            pid = int((folder / DRIVER_PID_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if not _process_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            log.info("removed %s left by a build that was killed (pid %d)", folder, pid)
            removed.append(folder)
    return removed


class RayExecutor:
    """Items as Ray tasks: joins ``ray_address`` if given, else starts a private local Ray on 127.0.0.1.

    On a cluster every node must see the build directory at the same path (a shared file system).
    """

    def __init__(self, config: ExecutorConfig):
        # Must be set before ray is imported: keeps a local Ray on the loopback interface.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        # Ray ends the driver when its head is gone this long; ClusterLost must come first.
        os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(int(config.lost_after_s + 60)))
        import ray

        self._ray = ray
        self._max_retries = config.max_retries
        self._lost_after_s = config.lost_after_s
        self._temp_dir = None
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray and config.ray_address:
            join_cluster(ray, config.ray_address, config.connect_timeout_s, cluster_runtime_env(config))
            log.info("joined Ray cluster at %s", config.ray_address)
        elif self._owns_ray:
            # A short private path: Ray's socket names must fit in 107 characters, and /tmp/ray may be another user's.
            remove_orphaned_ray_dirs()
            self._temp_dir = tempfile.mkdtemp(prefix=RAY_DIR_PREFIX)
            (Path(self._temp_dir) / DRIVER_PID_FILE).write_text(str(os.getpid()))
            ray.init(address="local", num_cpus=config.num_cpus, include_dashboard=False,
                     _node_ip_address="127.0.0.1", _temp_dir=self._temp_dir, log_to_driver=True,
                     runtime_env={"env_vars": {NUMBA_PARENT_ENV: self._temp_dir},
                                  "worker_process_setup_hook": NUMBA_SETUP_HOOK})
            log.info("started a local Ray (%s CPUs) in %s", ray.cluster_resources().get("CPU"), self._temp_dir)
        # What answers while the cluster lives: the Ray client server for ray://, else the head's GCS.
        client = (config.ray_address or "").startswith("ray://")
        self._head = head_address(config.ray_address) if client else ray.get_runtime_context().gcs_address

    @property
    def concurrency(self) -> int:
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def map(self, stage: Stage, items: Iterable[Any]) -> Iterator[StageRecord]:
        ray = self._ray
        remote_run = ray.remote(max_retries=self._max_retries, retry_exceptions=False)(run_item_on_ray_node)
        resources = stage.ray_resources(ray.cluster_resources())
        if resources:
            remote_run = remote_run.options(**resources)
            log.info("%s: each item asks the cluster for %s", stage.name, resources)
        stage_ref = ray.put(stage)
        gate = GroupGate(stage)
        pending: dict[Any, Any] = {}
        for item in gate.admit(items):
            pending[remote_run.remote(stage_ref, item)] = item
        silent_since = None
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            if not ready:
                silent_since = self._check_head(silent_since, stage)
                continue
            item = pending.pop(ready[0])
            for waiting in gate.release(item):
                pending[remote_run.remote(stage_ref, waiting)] = waiting
            try:
                yield ray.get(ready[0])
            except ray.exceptions.RayError as error:
                yield self._record_crash(stage, item, error)

    def _check_head(self, silent_since: float | None, stage: Stage) -> float | None:
        """None while the cluster's head answers, else since when it has not; ClusterLost when too long."""
        problem = unreachable(self._head, POLL_S)
        if problem is None:
            return None
        silent_since = silent_since or time.monotonic()
        if time.monotonic() - silent_since >= self._lost_after_s:
            raise ClusterLost(f"the Ray cluster at {self._head} stopped answering during stage {stage.name} "
                              f"({problem}; silent for {self._lost_after_s:g} s)")
        return silent_since

    def _record_crash(self, stage: Stage, item: Any, error: Exception) -> StageRecord:
        """The item's worker died on every retry: a crashed record (its node unknown: the worker is gone)."""
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        record = record_result(stage, item, StageRecord.failure(
            stage.name, stage.key(item), f"worker crashed after {self._max_retries} retries: {type(error).__name__}: "
            f"{message}", ErrorKind.WORKER_DIED, Status.CRASHED), node="")
        log.error("%s %s: %s", stage.name, record.key, record.error)
        return record

    def close(self) -> None:
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()
        if self._temp_dir:
            shutil.rmtree(self._temp_dir, ignore_errors=True)


def run_item_on_ray_node(stage: Stage, item: Any) -> StageRecord:
    """``run_item`` in a Ray worker, its record naming the Ray node it ran on."""
    import ray

    return run_item(stage, item, node=ray.get_runtime_context().get_node_id())


def cluster_runtime_env(config: ExecutorConfig) -> dict[str, Any]:
    """What a build sends with its job to a cluster it joins: the numba cache fix for every worker, this
    installation's ``tiktok_dm`` package (``ship_package``: the nodes then need its dependencies only, and run the
    driver's code, not an older copy) and pip requirements to install on every node (``worker_pip``)."""
    env: dict[str, Any] = {"worker_process_setup_hook": NUMBA_SETUP_HOOK}
    if config.ship_package:
        env["py_modules"] = [str(PACKAGE_DIR)]
    if config.worker_pip:
        env["pip"] = list(config.worker_pip)
    return env


def join_cluster(ray: Any, address: str, timeout_s: float, runtime_env: dict[str, Any] | None = None) -> None:
    """``ray.init`` on the cluster at ``address`` with ``runtime_env`` (default: the numba cache fix only), after
    checking that its head answers within ``timeout_s``."""
    head = head_address(address)
    problem = unreachable(head, timeout_s)
    if problem is not None:
        raise ClusterUnavailable(f"no Ray cluster answers at {address} ({problem} within {timeout_s:g} s); start one "
                                 "with `ray start --head`, or leave out --ray-address for a private local Ray")
    try:
        # Each worker of this build, on every node, compiles into a numba cache of its own (in the node's temp dir).
        ray.init(address=address, log_to_driver=True,
                 runtime_env=runtime_env or {"worker_process_setup_hook": NUMBA_SETUP_HOOK})
    except ConnectionError as error:
        raise ClusterUnavailable(f"could not join the Ray cluster at {address}: {error}") from error


def head_address(address: str) -> str:
    """``host:port`` of the cluster head a Ray address names; ``auto`` is the cluster ``RAY_ADDRESS`` names, else
    the one `ray start` runs on this machine."""
    if address == "auto":
        found = os.environ.get("RAY_ADDRESS") or (RAY_CURRENT_CLUSTER.read_text().strip()
                                                  if RAY_CURRENT_CLUSTER.is_file() else "")
        if not found or found == "auto":
            raise ClusterUnavailable("--ray-address auto: no Ray cluster runs on this machine (RAY_ADDRESS is unset "
                                     f"and {RAY_CURRENT_CLUSTER} does not exist); start one with `ray start --head`")
        return head_address(found)
    host_port = address.split("://", 1)[-1].rstrip("/")
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterUnavailable(f"--ray-address {address!r} is not host:port, ray://host:port or auto")
    return f"{host}:{port}"


def unreachable(head: str, timeout_s: float) -> str | None:
    """Why nothing answers at ``host:port`` within ``timeout_s`` (None when something does)."""
    host, _, port = head.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        return f"{head}: {error.strerror or error}"
    return None


def get_executor(config: ExecutorConfig) -> Executor:
    executors = {"local": lambda: LocalExecutor(), "ray": lambda: RayExecutor(config)}
    if config.kind not in executors:
        raise ValueError(f"unknown executor {config.kind!r}; choose one of {sorted(executors)}")
    return executors[config.kind]()


def run_stage(executor: Executor, stage: Stage, items: list[Any], progress: bool = True) -> list[StageRecord]:
    """Run ``stage`` over the items that are not done yet; return the records of ALL items, in order (done ones
    read back)."""
    results: dict[str, StageRecord] = {}
    todo = []
    for item in items:
        previous = is_done(stage, item)
        if previous is not None:
            results[previous.key] = previous
        else:
            todo.append(item)
    if len(results):
        log.info("%s: %d item(s) already done, %d to do", stage.name, len(results), len(todo))
    bar = tqdm(total=len(todo), desc=f"{stage.name:>9}", unit="item", disable=not progress or not todo, leave=True)
    with bar:
        for result in executor.map(stage, todo):
            results[result.key] = result
            bar.update(1)
            if not result.ok:
                bar.set_postfix_str(f"{sum(not r.ok for r in results.values())} failed")
    return [results[stage.key(item)] for item in items]
