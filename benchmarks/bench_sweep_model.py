"""Issue 17: what 16 workers would give on 64 sweep points of 2 s, from overheads measured here.

The 2-core machine cannot run 16 workers, so this measures the two overheads a sweep adds to
its points and projects the speed-up (the issue's fallback where no 16-core machine is lent):

- start-up: from creating the executor to every worker having run a first task (spawning,
  importing the stack), at 1 and 2 workers, extrapolated linearly in the workers;
- per point: a sweep's wall time against the same simulations called directly, one worker
  (`bench_sweep.overhead`, points of about 2 s).

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
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine  # noqa: E402
from bench_sweep import overhead  # noqa: E402

from experiments.runs.executors import make_executor  # noqa: E402
from sim.engine import simulate  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402

POINT_SECONDS, POINTS, WORKERS = 2.0, 64, 16
TARGETS = {"processes": 14.0, "dask-local": 12.0}


def start_up(kind: str, workers: int) -> float:
    """Seconds from creating the executor to each worker having run one small simulation."""
    tiny = load_scenario(ROOT / "scenarios" / "reference.yaml", ["market.size=1000", "days=5"])
    started = time.perf_counter()
    with make_executor(f"{kind}:{workers}") as executor:
        for future in [executor.submit(simulate, tiny, r) for r in range(workers)]:
            future.result()
        seconds = time.perf_counter() - started
    return seconds


def project(kind: str) -> dict:
    one = statistics.median(start_up(kind, 1) for _ in range(3))
    two = statistics.median(start_up(kind, 2) for _ in range(3))
    per_worker = max(two - one, 0.0)
    at_16 = one + per_worker * (WORKERS - 1)
    point = overhead(kind)["median_overhead_vs_direct"]
    wall = at_16 + math.ceil(POINTS / WORKERS) * POINT_SECONDS * (1 + point)
    speedup = POINTS * POINT_SECONDS / wall
    print(f"{kind}: start-up {one:.2f} s (1 worker), {two:.2f} s (2) -> {at_16:.2f} s at "
          f"{WORKERS}; per-point overhead {point:.1%}; projected {speedup:.1f}x on {POINTS} "
          f"points of {POINT_SECONDS:g} s (target {TARGETS[kind]:g}x)", flush=True)
    return {"start_up_1_worker_s": one, "start_up_2_workers_s": two,
            "start_up_16_workers_s": at_16, "per_point_overhead": point,
            "projected_wall_s": wall, "projected_speedup": speedup, "target": TARGETS[kind]}


def main() -> dict:
    return {"what": "projected sweep speed-up, 16 workers, 64 points of 2 s (issue 17)",
            "model": "start-up(W) + ceil(P/W) T (1 + overhead); see the docstring",
            "executors": {kind: project(kind) for kind in TARGETS}, "machine": machine()}


if __name__ == "__main__":
    data = main()
    (ROOT / "benchmarks" / "results" / "sweep_model.json").write_text(json.dumps(data, indent=2))
