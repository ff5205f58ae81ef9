"""Issue 17: what 16 workers would give on 64 sweep points of 2 s, from overheads measured here.

The 2-core machine cannot run 16 workers, so this measures the two overheads a sweep adds to
its points and projects the speed-up (the issue's fallback where no 16-core machine is lent):

- start-up: from creating the executor to every one of 16 workers having run a first task, in
  a fresh process (process pools: starting the fork server, which imports the stack once, then
  forking each worker; Dask: the scheduler, nannies and workers forked the same way), measured
  here with all 16 sharing the 2 cores: an upper bound of the 16-core figure (until stop 27
  this was extrapolated from 1 and 2 workers, which noise dominated once forks cost ~2 ms);
- per point: a sweep's wall time against the same simulations called directly, one worker
  (`bench_sweep.overhead`, points of about 2 s, 5 pairs in turn: single pairs ranged from 2%
  to 12% on this machine); the orchestration alone (wall against the tasks' own compute time)
  is recorded beside it.

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine  # noqa: E402
from bench_sweep import overhead  # noqa: E402

POINT_SECONDS, POINTS, WORKERS = 2.0, 64, 16
START_UP_RUNS = 5  # fresh processes per start-up figure (medians)
# sweeps against direct calls, in turn: this machine's speed drifts by 5-10% between runs
OVERHEAD_REPEATS = 5
TARGETS = {"processes": 14.0, "dask-local": 12.0}


START_UP = """
import json, sys, time
import experiments.cli.sweep_cli  # what `simctl sweep` has loaded when it makes its executor
from experiments.runs.executors import make_executor
from sim.engine import simulate
from sim.scenario import load_scenario
kind, workers = sys.argv[1], int(sys.argv[2])
tiny = load_scenario(sys.argv[3], ["market.size=1000", "days=5"])
started = time.perf_counter()
with make_executor(f"{kind}:{workers}") as executor:
    for future in [executor.submit(simulate, tiny, r) for r in range(workers)]:
        future.result()
    print(json.dumps(time.perf_counter() - started))
"""


def start_up(kind: str, workers: int) -> float:
    """Seconds from creating the executor to each worker having run one small simulation, in a
    fresh process (a process pool's fork server starts with the first pool, so only a fresh
    process pays and shows it)."""
    out = subprocess.run([sys.executable, "-c", START_UP, kind, str(workers),
                          str(ROOT / "scenarios" / "reference.yaml")], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def project(kind: str) -> dict:
    one = statistics.median(start_up(kind, 1) for _ in range(START_UP_RUNS))
    at_16 = statistics.median(start_up(kind, WORKERS) for _ in range(START_UP_RUNS))
    measured = overhead(kind, repeats=OVERHEAD_REPEATS)
    point = measured["median_overhead_vs_direct"]
    wall = at_16 + math.ceil(POINTS / WORKERS) * POINT_SECONDS * (1 + point)
    speedup = POINTS * POINT_SECONDS / wall
    print(f"{kind}: start-up {one:.2f} s (1 worker), {at_16:.2f} s ({WORKERS} workers on this "
          f"machine's cores); per-point overhead {point:.1%} (orchestration "
          f"{measured['median_overhead_vs_task_time']:.1%}); projected {speedup:.1f}x on "
          f"{POINTS} points of {POINT_SECONDS:g} s (target {TARGETS[kind]:g}x)", flush=True)
    return {"start_up_1_worker_s": one, "start_up_16_workers_s": at_16,
            "per_point_overhead": point,
            "per_point_overhead_vs_task_time": measured["median_overhead_vs_task_time"],
            "projected_wall_s": wall,
            "projected_speedup": speedup, "target": TARGETS[kind]}


def main() -> dict:
    return {"what": "projected sweep speed-up, 16 workers, 64 points of 2 s (issue 17)",
            "model": "start-up(W) + ceil(P/W) T (1 + overhead); see the docstring",
            "executors": {kind: project(kind) for kind in TARGETS}, "machine": machine()}


if __name__ == "__main__":
    data = main()
    (ROOT / "benchmarks" / "results" / "sweep_model.json").write_text(json.dumps(data, indent=2))
