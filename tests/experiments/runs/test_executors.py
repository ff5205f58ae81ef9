"""Executors: the same numbers serially, in a process pool and on a real Dask cluster (worker
processes on loopback); a killed Dask worker loses nothing; bad specs are exit 2."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from distributed import LocalCluster

from experiments.runs.design import build_design
from experiments.runs.executors import (
    DaskExecutor,
    SerialExecutor,
    make_executor,
    worker_context,
)
from experiments.runs.sweep import Plan, create_run, read_tasks, run_plan
from sim.errors import InputError
from sim.scenario import load_scenario
from tests.experiments.runs.test_sweep import REFERENCE, invoke, results_of


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A real LocalCluster: 2 single-threaded worker processes (with nannies) on 127.0.0.1."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as running:
        yield running


def _plan(root: Path, size: int = 5000, days: int = 40) -> Plan:
    base = load_scenario(REFERENCE, [f"market.size={size}", f"days={days}", "replicates=2"])
    design, _ = build_design(base, ["mechanics.acquisition.p=0.005,0.01,0.02",
                                    "mechanics.acquisition.q=0.2,0.4"])
    return create_run(base, design, root, "test")


def test_serial_processes_and_dask_give_bit_identical_results(
        tmp_path: Path, cluster: LocalCluster) -> None:
    serial = results_of(run_plan(_plan(tmp_path / "serial"), make_executor("serial")).run_dir)
    with make_executor("processes:2") as pool:
        pooled = results_of(run_plan(_plan(tmp_path / "processes"), pool).run_dir)
    with make_executor(f"dask://{cluster.scheduler_address}") as dask:
        assert isinstance(dask, DaskExecutor) and dask.workers == 2
        dasked = results_of(run_plan(_plan(tmp_path / "dask"), dask).run_dir)
    metrics = serial["metric"].nunique()
    assert metrics >= 9 and len(serial) == 6 * 2 * metrics  # every task, every metric
    pd.testing.assert_frame_equal(pooled, serial, check_exact=True)
    pd.testing.assert_frame_equal(dasked, serial, check_exact=True)


@pytest.mark.slow
def test_a_killed_dask_worker_loses_no_results(tmp_path: Path, cluster: LocalCluster) -> None:
    expected = results_of(run_plan(_plan(tmp_path / "serial", 60000, 120),
                                   make_executor("serial")).run_dir)
    plan = _plan(tmp_path / "dask", 60000, 120)
    killed: list[int] = []
    with make_executor(f"dask://{cluster.scheduler_address}") as dask:
        def kill_one_worker_mid_sweep(done: int, total: int, failures: int) -> None:
            if done == 1 and not killed:
                pids = dask.client.run(os.getpid)  # {worker address: pid}
                victim = sorted(pids)[0]
                os.kill(pids[victim], signal.SIGKILL)
                killed.append(pids[victim])

        outcome = run_plan(plan, dask, progress=kill_one_worker_mid_sweep)
    assert killed and outcome.complete and not outcome.failures
    assert len(read_tasks(plan.run_dir)) == 12
    pd.testing.assert_frame_equal(results_of(plan.run_dir), expected, check_exact=True)


def test_dask_local_executor_starts_and_closes_its_cluster() -> None:
    with make_executor("dask-local:1") as dask:
        assert dask.submit(pow, 2, 10).result() == 1024
        assert dask.submit(eval, STACK_LOADED).result()  # forked from the preloaded server
        cluster = dask.cluster
    assert cluster.status.name == "closed"


# evaluated in a worker before any task has imported anything there (eval is a builtin)
STACK_LOADED = "'sim.engine' in __import__('sys').modules"


def test_pool_workers_fork_from_a_server_that_imported_the_stack() -> None:
    """Workers start without importing numpy, pandas and the stack again (issue 17), with one
    BLAS/OpenMP thread each unless the user chose otherwise; this process's environment is
    left as it was."""
    before = os.environ.get("OMP_NUM_THREADS")
    assert worker_context().get_start_method() == "forkserver"
    assert os.environ.get("OMP_NUM_THREADS") == before
    with make_executor("processes:2") as pool:
        assert all(f.result() for f in [pool.submit(eval, STACK_LOADED) for _ in range(4)])
        threads = pool.submit(eval, "__import__('os').environ.get('OMP_NUM_THREADS')").result()
    assert threads == (before or "1")


def test_serial_executor_reports_exceptions_in_the_future() -> None:
    future = SerialExecutor().submit(int, "x")
    assert isinstance(future.exception(), ValueError)


@pytest.mark.parametrize("spec, fragment", [
    ("threads", "unknown executor"), ("processes:0", "whole number >= 1"),
    ("processes:two", "whole number >= 1"), ("dask://nohostport", "expected dask://HOST:PORT"),
])
def test_bad_executor_specs(spec: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        make_executor(spec)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends


def test_unreachable_scheduler_is_one_line_and_exit_2(tmp_path: Path) -> None:
    address = f"dask://127.0.0.1:{_closed_port()}"
    done = invoke("sweep", REFERENCE, "market.size=2000", "days=30", "--param",
                  "mechanics.acquisition.p=0.01,0.02", "--executor", address,
                  "--out", str(tmp_path))
    assert done.exit_code == 2
    assert "cannot reach a Dask scheduler" in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.output and not any(tmp_path.iterdir())
