"""Sweep speed: (a) throughput of 2 workers vs 1 for 1M-user points, (b) per-point executor
overhead for points of >= 1 s. Each measurement is repeated and the median reported.

    python benchmarks/bench_sweep.py            # ~4-5 minutes on 2 cores
    BENCH_REPEATS=1 python benchmarks/bench_sweep.py   # quick look

Pools and clusters are started and warmed before timing: the figures are the steady-state cost
of running points, not of starting Python processes. Writes benchmarks/results/sweep.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from experiments.runs.design import build_design
from experiments.runs.executors import make_executor
from experiments.runs.sweep import create_run, run_plan
from sim.engine import simulate
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scenarios" / "reference.yaml"
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
USERS = 1_000_000


def _warm(executor: Executor) -> None:
    """Import numpy/pandas/sim in every worker before the clock starts."""
    workers = getattr(executor, "workers", 1)
    base = load_scenario(REFERENCE, ["market.size=1000", "days=5"])
    for f in [executor.submit(simulate, base, r) for r in range(2 * workers)]:
        f.result()


def _sweep(executor: Executor, days: int, points: int) -> tuple[float, float]:
    """Wall time of a sweep of `points` 1M-user points and the sum of its task times."""
    base = load_scenario(REFERENCE, [f"market.size={USERS}", f"days={days}", "replicates=1"])
    qs = ",".join(f"{0.2 + 0.02 * i:.2f}" for i in range(points))
    design, _ = build_design(base, [f"mechanics.acquisition.q={qs}"])
    with tempfile.TemporaryDirectory() as out:
        plan = create_run(base, design, Path(out), "bench")
        started = time.perf_counter()
        outcome = run_plan(plan, executor)
        wall = time.perf_counter() - started
        assert outcome.complete and not outcome.failures, outcome.failures
        tasks = json.loads((plan.run_dir / "summary.json").read_text())["compute_seconds"]
    return wall, tasks


def _direct(days: int, points: int) -> float:
    """The same simulations called directly, one after another: the no-executor baseline."""
    base = load_scenario(REFERENCE, [f"market.size={USERS}", f"days={days}"])
    from experiments.runs.design import point_scenario

    scenarios = [point_scenario(base, {"mechanics.acquisition.q": round(0.2 + 0.02 * i, 2)})
                 for i in range(points)]
    started = time.perf_counter()
    for s in scenarios:
        simulate(s, 0)
    return time.perf_counter() - started


def throughput(kind: str, points: int = 8, days: int = 365) -> dict[str, Any]:
    walls: dict[int, list[float]] = {1: [], 2: []}
    for workers in (1, 2):
        with make_executor(f"{kind}:{workers}") as executor:
            _warm(executor)
            for _ in range(REPEATS):
                walls[workers].append(_sweep(executor, days, points)[0])
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    return {"executor": kind, "points": points, "users": USERS, "days": days,
            "wall_1_worker_s": walls[1], "wall_2_workers_s": walls[2],
            "median_1_worker_s": one, "median_2_workers_s": two,
            "points_per_s_1": points / one, "points_per_s_2": points / two,
            "speedup": one / two}


def overhead(kind: str, points: int = 5, days: int = 450,
             repeats: int = REPEATS) -> dict[str, Any]:
    """(sweep wall - direct simulate time) / direct, one worker so nothing runs in parallel."""
    spec = "serial" if kind == "serial" else f"{kind}:1"
    ratios, task_ratios, direct_times, walls = [], [], [], []
    with make_executor(spec) as executor:
        _warm(executor)
        for _ in range(repeats):
            direct = _direct(days, points)
            wall, tasks = _sweep(executor, days, points)
            direct_times.append(direct)
            walls.append(wall)
            ratios.append((wall - direct) / direct)
            task_ratios.append((wall - tasks) / wall)
    return {"executor": spec, "points": points, "users": USERS, "days": days,
            "direct_s": direct_times, "sweep_wall_s": walls,
            "median_point_s": statistics.median(direct_times) / points,
            "median_overhead_vs_direct": statistics.median(ratios),
            "median_overhead_vs_task_time": statistics.median(task_ratios)}


def main() -> None:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "processor": _cpu_model(),
                    "python": platform.python_version()},
        "repeats": REPEATS, "throughput": [], "overhead": []}
    for kind in ("processes", "dask-local"):
        results["throughput"].append(throughput(kind))
        print(f"{kind}: speedup {results['throughput'][-1]['speedup']:.2f}x", flush=True)
    for kind in ("serial", "processes", "dask-local"):
        results["overhead"].append(overhead(kind))
        print(f"{kind}: overhead {results['overhead'][-1]['median_overhead_vs_direct']:.1%}",
              flush=True)
    results["total_seconds"] = time.perf_counter() - started
    out = ROOT / "benchmarks" / "results" / "sweep.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"sweep benchmark, median of {REPEATS} ({results['machine']['cpus']} CPUs, "
          f"{results['machine']['processor']}):")
    print(f"{'executor':<12}{'1 worker s':>12}{'2 workers s':>13}{'speedup':>9}   (target >= 1.7)")
    for t in results["throughput"]:
        print(f"{t['executor']:<12}{t['median_1_worker_s']:>12.2f}{t['median_2_workers_s']:>13.2f}"
              f"{t['speedup']:>8.2f}x")
    print(f"{'executor':<14}{'point s':>9}{'overhead vs direct':>20}{'vs task time':>14}"
          "   (target < 5%)")
    for o in results["overhead"]:
        print(f"{o['executor']:<14}{o['median_point_s']:>9.2f}"
              f"{o['median_overhead_vs_direct']:>19.1%}{o['median_overhead_vs_task_time']:>14.1%}")
    print(f"({results['total_seconds']:.0f} s) -> {out}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
