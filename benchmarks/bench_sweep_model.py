"""Issue 17: what 16 workers would give on 64 sweep points of 2 s, from overheads measured here.

The 2-core machine cannot run 16 workers, so this measures the two overheads a sweep adds to
its points and projects the speed-up (the issue's fallback where no 16-core machine is lent):

- start-up: from creating the executor to each of 16 distinct workers having run a first
  task, in a fresh process. Process pools: one fork-server start (it imports the stack once;
  measured with 1 worker) plus 15 forks made one after another by the server (each measured
  on a running server with tasks that wait at a barrier, `_start_up.py --fork-cost`); the
  16 workers' own first tasks run side by side on 16 cores. Dask: the scheduler, nannies and
  workers measured whole. Both are also measured with all 16 workers on this machine's 2
  cores, an upper bound, and the speed-up that bound gives is printed beside (until stop 27
  the start-up was extrapolated from 1 and 2 spawned workers);
- per point: the orchestration (a 5-point sweep's wall time against its tasks' own compute
  time, one worker, `bench_sweep.overhead`, points of about 2 s) plus the point's own metrics
  (`horizon_metrics` against the simulation it reads, timed in turn in one process). A sweep
  against the same simulations called directly is recorded beside: on this machine single
  pairs of that ranged from -3% to 12% as its speed drifted between runs.

    time(W, P) = start-up(W) + ceil(P / W) x T x (1 + per-point overhead)
    speed-up   = P x T / time(W, P)

The model leaves out what only a big machine shows: memory bandwidth and caches shared by 16
busy cores, clock speeds that drop when all cores run, and scheduler contention. It is an
upper bound; the one measurement on a 16-core machine (issue 17's text: 10.9x processes,
8.9x Dask, before the per-point and start-up costs were cut) is the reality check to redo when
a device is lent. Writes benchmarks/results/sweep_model.json.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine  # noqa: E402
from bench_sweep import REFERENCE, USERS, overhead  # noqa: E402

POINT_SECONDS, POINTS, WORKERS = 2.0, 64, 16
START_UP_RUNS = 5  # fresh processes per start-up figure (medians)
# sweeps against direct calls, in turn: this machine's speed drifts by 5-10% between runs
OVERHEAD_REPEATS = 5
TARGETS = {"processes": 14.0, "dask-local": 12.0}


def start_up(kind: str, workers: int) -> float:
    """Seconds from creating the executor to each of `workers` distinct workers having run one
    small simulation, in a fresh process (`_start_up.py`: a process pool's fork server starts
    with the first pool, so only a fresh process pays and shows it)."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_start_up.py"), kind,
                          str(workers), str(ROOT / "scenarios" / "reference.yaml")],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"_start_up.py {kind} {workers} failed:\n{out.stderr[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def fork_cost(workers: int) -> float:
    """Seconds each further process-pool worker adds once the fork server runs (median of
    fresh processes; `_start_up.py --fork-cost`)."""
    def once() -> float:
        out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_start_up.py"),
                              "--fork-cost", str(workers)], capture_output=True, text=True,
                             cwd=ROOT)
        if out.returncode:
            raise RuntimeError(f"_start_up.py --fork-cost failed:\n{out.stderr[-2000:]}")
        return float(json.loads(out.stdout.strip().splitlines()[-1]))
    return statistics.median(once() for _ in range(START_UP_RUNS))


def metrics_share(days: int = 450, runs: int = 5) -> float:
    """What a sweep point adds to its simulation by computing its horizon metrics
    (`experiments.runs.point.market_metrics`), as a share of the simulation, both timed in this
    process in turn (so the machine's drift between runs cancels)."""
    from experiments.runs.point import market_metrics
    from sim.engine import simulate
    from sim.scenario import load_scenario

    scenario = load_scenario(REFERENCE, [f"market.size={USERS}", f"days={days}"])
    shares = []
    for _ in range(runs):
        started = time.perf_counter()
        counters = simulate(scenario, 0)
        simulated = time.perf_counter() - started
        started = time.perf_counter()
        market_metrics(scenario, 0, counters)
        shares.append((time.perf_counter() - started) / simulated)
    return statistics.median(shares)


def project(kind: str) -> dict:
    one = statistics.median(start_up(kind, 1) for _ in range(START_UP_RUNS))
    direct = statistics.median(start_up(kind, WORKERS) for _ in range(START_UP_RUNS))
    if kind == "processes":  # one server start, then forks one after another
        per_fork = fork_cost(WORKERS)
        at_16 = one + (WORKERS - 1) * per_fork
    else:  # scheduler, nannies and workers: measured whole, all 16 on this machine's cores
        per_fork, at_16 = None, direct
    measured = overhead(kind, repeats=OVERHEAD_REPEATS)
    # orchestration (sweep wall against its tasks' own time, one run) plus the point's metrics
    # (against its simulation, in turn): both immune to the machine's drift between runs,
    # unlike the sweep against direct calls, recorded beside
    orchestration = measured["median_overhead_vs_task_time"]
    point = orchestration + metrics_share()
    wall = at_16 + math.ceil(POINTS / WORKERS) * POINT_SECONDS * (1 + point)
    speedup = POINTS * POINT_SECONDS / wall
    bound = POINTS * POINT_SECONDS / (direct + math.ceil(POINTS / WORKERS) * POINT_SECONDS
                                      * (1 + point))
    print(f"{kind}: start-up {one:.2f} s (1 worker), {at_16:.2f} s for {WORKERS} in the model "
          f"({direct:.2f} s measured with all {WORKERS} on this machine's cores); per-point "
          f"overhead {point:.1%} (orchestration {orchestration:.1%}; against direct calls "
          f"{measured['median_overhead_vs_direct']:.1%}); "
          f"projected {speedup:.1f}x on {POINTS} points of {POINT_SECONDS:g} s ({bound:.1f}x "
          f"with the measured {WORKERS}-worker start-up; target {TARGETS[kind]:g}x)", flush=True)
    return {"start_up_1_worker_s": one, "fork_cost_s": per_fork,
            "start_up_16_workers_s": at_16, "start_up_16_on_this_machine_s": direct,
            "per_point_overhead": point, "per_point_orchestration": orchestration,
            "per_point_overhead_vs_direct": measured["median_overhead_vs_direct"],
            "projected_wall_s": wall, "projected_speedup": speedup,
            "speedup_with_measured_start_up": bound, "target": TARGETS[kind]}


def main() -> dict:
    return {"what": "projected sweep speed-up, 16 workers, 64 points of 2 s (issue 17)",
            "model": "start-up(W) + ceil(P/W) T (1 + overhead); see the docstring",
            "executors": {kind: project(kind) for kind in TARGETS}, "machine": machine()}


if __name__ == "__main__":
    data = main()
    (ROOT / "benchmarks" / "results" / "sweep_model.json").write_text(json.dumps(data, indent=2))
