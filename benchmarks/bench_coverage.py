"""Coverage of the calibration posterior (issue #8, parameter recovery): for 1, 2 and 4 fitted
parameters, fit many data sets simulated at known parameters
(experiments/calibration/recovery.py) and count how often the 90% and 50% intervals hold the
truth. Writes benchmarks/results/coverage.json (records per interval, and per p: coverage with
its binomial standard error, mean z^2).

Usage: python benchmarks/bench_coverage.py [--seeds 40] [--p 1 2 4] [--workers 2]
The seeds run in parallel through the evaluator (`experiments.calibration.recovery.study`, one
serial calibration per task), so results are identical whatever the executor. Partial results
are written after every finished seed; a seed that fails is listed, the others complete.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from experiments.calibration.recovery import study, summarise
from experiments.runs.evaluator import TaskOutcome
from experiments.runs.executors import make_executor

ROOT = Path(__file__).resolve().parents[1]
FIRST_SEED = 100  # the suite's check uses seeds 0..; the study uses others


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--p", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stages", type=int, default=3)
    parser.add_argument("--design", type=int, default=None)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "coverage.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    work = tempfile.mkdtemp(prefix="bench-coverage-")
    records: dict[int, list[dict[str, Any]]] = {p: [] for p in args.p}
    failures: list[str] = []

    def write() -> None:
        result = {
            "what": "coverage of calibrate's posterior intervals on data simulated at known "
                    "parameters (experiments/calibration/recovery.py: 6,000 users, 12 weeks, "
                    "weekly repeat purchases and churned users; 12 CMA-ES/TPE trials x 2 "
                    "replicates, then "
                    f"{args.stages} posterior rounds of design 12 (p + 2))",
            "machine": f"{platform.machine()} {os.cpu_count()} cores, "
                       f"{platform.python_version()}",
            "seeds": f"{FIRST_SEED}..{FIRST_SEED + args.seeds - 1}",
            "wall_seconds": round(time.perf_counter() - started, 1),
            "summary": {str(p): summarise(r) for p, r in records.items() if r},
            "records": {str(p): r for p, r in records.items()}, "failures": failures}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2), "utf-8")

    def keep(outcome: TaskOutcome) -> None:
        if outcome.ok:
            records[outcome.task.point] += outcome.value
        else:
            failures.append(outcome.describe())
        write()

    seeds = list(range(FIRST_SEED, FIRST_SEED + args.seeds))
    with make_executor(f"processes:{args.workers}") as pool:
        final, failed = study(args.p, seeds, Path(work), pool, stages=args.stages,
                              design=args.design, on_outcome=keep)
    records.update(final)  # in seed order, whatever order they finished in
    failures[:] = failed
    write()
    summary = json.loads(Path(args.out).read_text("utf-8"))["summary"]
    for p, s in summary.items():
        print(f"p={p}: 90% {s['coverage90_hits']}/{s['intervals']} = {s['coverage90']:.3f} "
              f"(se {s['coverage90_se_nominal']:.3f}), 50% {s['coverage50']:.3f} "
              f"(se {s['coverage50_se_nominal']:.3f}), mean z^2 {s['mean_z2']:.2f}")


if __name__ == "__main__":
    main()
