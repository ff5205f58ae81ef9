"""Time one executor's start-up in this (fresh) process: from creating it to every one of its
workers having run a first small simulation. Prints the seconds as JSON.

    python benchmarks/_start_up.py KIND WORKERS SCENARIO
    python benchmarks/_start_up.py --fork-cost WORKERS   # seconds per extra pool worker

`--fork-cost`: once the fork server runs, what each further worker of a process pool costs:
pools of 1 and of WORKERS workers whose tasks only wait at the barrier, (t(W) - t(1)) / (W - 1)
(the forks are made one after another by the server; on a 2-core machine the new workers'
start-up also queues for the cores, so this is an upper bound of the serial part).

Process pools start workers on demand and reuse idle ones, so each first task waits at a
barrier until all WORKERS hold one: the clock stops when WORKERS distinct workers have run
(checked by their pids). A dask-local cluster is only handed over once all its workers are up,
so its tasks need no barrier. Used by bench_sweep_model.py.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from typing import Any

from experiments.runs.executors import make_executor
from sim.engine import simulate
from sim.scenario import load_scenario


def first_task(scenario: Any, replicate: int, barrier: Any) -> int:
    if scenario is not None:
        simulate(scenario, replicate)
    if barrier is not None:
        barrier.wait(timeout=120)
    return os.getpid()


def timed_pool(kind: str, workers: int, scenario: Any, manager: Any) -> float:
    """Seconds from creating the executor to `workers` distinct workers having run a task."""
    barrier = manager.Barrier(workers) if kind == "processes" else None
    started = time.perf_counter()
    with make_executor(f"{kind}:{workers}") as executor:
        pids = {f.result() for f in [executor.submit(first_task, scenario, r, barrier)
                                     for r in range(workers)]}
        seconds = time.perf_counter() - started
    if kind == "processes" and len(pids) != workers:
        raise SystemExit(f"{len(pids)} distinct workers ran, expected {workers}")
    return seconds


def main() -> None:
    # what `simctl sweep` has loaded when it makes its executor; imported here, not at the top,
    # as simctl's entry script does: workers import the main module again, never this
    import experiments.cli.sweep_cli  # noqa: F401

    with multiprocessing.Manager() as manager:
        if sys.argv[1] == "--fork-cost":
            workers = int(sys.argv[2])
            timed_pool("processes", 1, None, manager)  # the fork server starts here
            one = min(timed_pool("processes", 1, None, manager) for _ in range(5))
            many = min(timed_pool("processes", workers, None, manager) for _ in range(5))
            print(json.dumps((many - one) / (workers - 1)))
            return
        kind, workers = sys.argv[1], int(sys.argv[2])
        tiny = load_scenario(sys.argv[3], ["market.size=1000", "days=5"])
        print(json.dumps(timed_pool(kind, workers, tiny, manager)))


if __name__ == "__main__":
    main()
