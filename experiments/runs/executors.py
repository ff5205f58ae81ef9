"""Executors: one `concurrent.futures.Executor` interface whether tasks run here, in a process pool
or on a Dask cluster, so sweeps, sensitivity and optimisation never care where they run.

    serial            in this process, one task at a time (debuggable, monkeypatchable)
    processes:N       a ProcessPoolExecutor whose workers fork from a server that imported the
                      stack once (forkserver, on Linux; spawn elsewhere)
    dask-local:N      a LocalCluster of N single-threaded worker processes on 127.0.0.1
                      (its dashboard on a free loopback port: `None` would mean :8787)
    dask://HOST:PORT  a running Dask scheduler (see docs/sweeps.md to start one)

Use them as context managers: leaving the block shuts pools down and closes Dask clusters.
Every executor has `workers` (how many tasks run at once), used to size submission windows.
Tasks go through `experiments.runs.evaluator`, which bounds, captures and retries them.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from sim.errors import InputError, Problem

EXAMPLES = "serial, processes:2, dask-local:2 or dask://HOST:8786"
CONNECT_TIMEOUT = "3s"
# Linux only: macOS has forkserver too, but forking a process that loaded its system libraries
# (Accelerate under numpy) is what made Python choose spawn there
FORK_SERVER = sys.platform.startswith("linux") and \
    "forkserver" in multiprocessing.get_all_start_methods()
# what tasks never run (commands, pages: plotly): left out of the fork server's preload
NOT_IN_WORKERS = ("experiments.cli", "experiments.report")
# the fork server's environment, unless the user set them: each worker runs numpy, BLAS and
# OpenMP on one thread (a pool is sized to the cores), as Dask's nanny asks of its workers
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _bad(spec: str, message: str) -> InputError:
    """A refused spec, named as typed: `--executor foo: unknown executor; expected ...`."""
    return InputError([Problem(f"--executor {spec}".strip(), None, "", message)])


class SerialExecutor(Executor):
    """Runs each task at submit time in this process; exceptions land in the future."""

    workers = 1
    spec = "serial"

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # KeyboardInterrupt must stop the caller, not the task
            future.set_exception(exc)
        return future


def worker_context() -> multiprocessing.context.BaseContext:
    """How pool workers start: forked from a `forkserver` that imported, once, the growthsim
    modules this process has loaded but NOT_IN_WORKERS (and distributed, if loaded), so a
    worker starts in a few milliseconds (8 ms measured on 2 cores) instead of importing numpy,
    pandas and the stack again (about 0.4 s each, and 16 at once contend for the same cores).
    The server is a fresh single-threaded process (no inherited threads or locks), started
    here with ONE_THREAD in its environment. It serves every later pool of this process,
    process pools and dask-local alike: its preload, its environment (GROWTHSIM_* variables)
    and the code it loaded are those of the first pool (a notebook that edits growthsim's code
    restarts its kernel to see it in workers). `spawn` off Linux."""
    if not FORK_SERVER:
        return multiprocessing.get_context("spawn")
    from multiprocessing import forkserver  # Linux here

    context = multiprocessing.get_context("forkserver")
    loaded = list(sys.modules)  # a snapshot: another thread may import meanwhile
    context.set_forkserver_preload(sorted(
        name for name in loaded if (name.partition(".")[0] in ("sim", "experiments")
                                    and not name.startswith(NOT_IN_WORKERS))
        or name == "distributed"))
    previous = {name: os.environ.get(name) for name in ONE_THREAD}
    os.environ.update({k: v for k, v in ONE_THREAD.items() if previous[k] is None})
    try:
        forkserver.ensure_running()  # no-op once running
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
    return context


class ProcessExecutor(Executor):
    """A process pool (workers from `worker_context`) that can be renewed: when a worker dies
    the pool is broken for good (BrokenProcessPool), so the evaluator asks for a fresh one
    (`renew`) and re-runs what was lost. `generation` counts the pools, so a pool is replaced
    once however many lost futures report the same death."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.spec = f"processes:{workers}"
        self.generation = 0
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers,
                                   mp_context=worker_context())

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self._pool.submit(fn, *args, **kwargs)

    def renew(self, generation: int) -> None:
        """Replace the pool of `generation` (broken: a worker died) with a fresh one."""
        if generation != self.generation:
            return  # already replaced
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        self.generation += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


class DaskExecutor(Executor):
    """`Client.get_executor()` plus ownership of the client (and the LocalCluster, if ours,
    with the Dask settings it was started under, kept in force until it closes)."""

    def __init__(self, client: Any, cluster: Any | None, spec: str,
                 settings: Any | None = None) -> None:
        self.client, self.cluster, self.spec = client, cluster, spec
        self._settings = settings
        self._inner = client.get_executor(pure=False)
        self.workers = max(1, sum(client.nthreads().values()))

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self._inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        try:
            self._inner.shutdown(wait=wait and not cancel_futures)
        finally:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()
            if self._settings is not None:
                self._settings.__exit__(None, None, None)


def _count(spec: str, raw: str) -> int:
    if not re.fullmatch(r"[1-9]\d*", raw):
        raise _bad(spec, f"the worker count must be a whole number >= 1; expected {EXAMPLES}")
    return int(raw)


def check_executor(spec: str) -> tuple[str, int]:
    """(kind, workers) of a spec, checked without starting or reaching anything (workers 0 for
    a remote scheduler), so a command refuses a typo before it prints notes or runs anything.
    Dask missing is said here too; an unreachable scheduler only when it is reached."""
    spec = spec.strip()
    if spec == "serial":
        return "serial", 1
    kind, _, rest = spec.partition(":")
    if kind in ("processes", "dask-local"):
        workers = _count(spec, rest)
    elif spec.startswith(("dask://", "tcp://")):
        kind, workers = "dask", 0
        if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]:]+:\d+", _address(spec)):
            raise _bad(spec, "expected dask://HOST:PORT, e.g. dask://10.0.0.5:8786")
    else:
        raise _bad(spec, f"unknown executor; expected {EXAMPLES}")
    if kind != "processes":
        _dask_modules()
    return kind, workers


def _address(spec: str) -> str:
    return spec.strip().removeprefix("dask://").removeprefix("tcp://")


def make_executor(spec: str) -> Executor:
    """An Executor for a spec string; bad specs and unreachable schedulers are InputErrors."""
    spec = spec.strip()
    kind, workers = check_executor(spec)
    if kind == "serial":
        return SerialExecutor()
    if kind == "processes":
        return ProcessExecutor(workers)
    if kind == "dask-local":
        return _dask_local(spec, workers)
    return _dask_remote(spec)


def _dask_modules() -> tuple[Any, Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError([Problem("--executor", None, "", "Dask is not installed; pip install "
                                  "'growthsim[distributed]' or use processes:N")]) from None
    return Client, LocalCluster


# Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in workers; setting it at all turns off glibc's
# dynamic mmap threshold, so every large numpy array is mmapped and page-faulted afresh: the
# engine ran ~1.6x slower per point (measured). None unsets it (distributed's documented way).
WORKER_ENV = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def _dask_local(spec: str, workers: int) -> DaskExecutor:
    import dask

    client_cls, cluster_cls = _dask_modules()
    config = dict(WORKER_ENV)
    if FORK_SERVER:  # workers forked from the fork server (worker_context), also on a restart
        config["distributed.worker.multiprocessing-method"] = "forkserver"
    settings = dask.config.set(config)  # in force while the cluster lives, restored after
    try:
        if FORK_SERVER:
            from distributed.utils import get_mp_context

            get_mp_context()  # distributed names its preload once; worker_context's replaces it
            worker_context()
        cluster = cluster_cls(n_workers=workers, threads_per_worker=1, processes=True,
                              host="127.0.0.1", dashboard_address="127.0.0.1:0")
    except BaseException:
        settings.__exit__(None, None, None)
        raise
    try:
        client = client_cls(cluster)
        client.wait_for_workers(workers, timeout=60)
    except BaseException:
        cluster.close()
        settings.__exit__(None, None, None)
        raise
    return DaskExecutor(client, cluster, spec, settings)


def _dask_remote(spec: str) -> DaskExecutor:
    client_cls, _ = _dask_modules()
    address = _address(spec)
    try:
        client = client_cls(f"tcp://{address}", timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _bad(spec, f"cannot reach a Dask scheduler at tcp://{address} within "
                   f"{CONNECT_TIMEOUT} ({reason[:120]}); start one with `dask scheduler "
                   "--port PORT` (docs/sweeps.md)") from None
    if not client.nthreads():
        try:
            client.wait_for_workers(1, timeout=30)
        except (OSError, TimeoutError):
            client.close()
            raise _bad(spec, "the scheduler has no workers; start some with `dask worker "
                       f"tcp://{address} --nthreads 1`") from None
    return DaskExecutor(client, None, spec)


def describe(executor: Executor) -> str:
    return str(getattr(executor, "spec", type(executor).__name__))


def workers_of(executor: Executor) -> int:
    return int(getattr(executor, "workers", os.cpu_count() or 1))


class CountingExecutor(Executor):
    """Any executor, with every finished submission counted for a progress bar: a command made
    of several evaluations (calibrate's trials, then its posterior rounds) shows one bar with an
    ETA without each step knowing about it. Pool renewal and the rest pass through."""

    def __init__(self, inner: Executor, progress: Callable[[int, int, int], None],
                 total: int) -> None:
        self.inner, self.progress, self.total, self.done = inner, progress, max(total, 1), 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future = self.inner.submit(fn, *args, **kwargs)
        future.add_done_callback(self._tick)
        return future

    def _tick(self, _: Future) -> None:
        self.done += 1
        self.total = max(self.total, self.done)
        self.progress(self.done, self.total, 0)

    def __getattr__(self, name: str) -> Any:  # generation, renew, workers, ...
        return getattr(self.inner, name)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)
