"""check_memory against the measured peak (issue 17): peak resident memory of a whole `simctl run`
process (one replicate, 365 days, each run in a fresh process) beside `memory_estimate` for the
same scenario, at three sizes or more per scenario. Writes benchmarks/results/memory.json.

Usage: python benchmarks/bench_memory.py [--days 365] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sim.planning import memory_estimate
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"scale": (500_000, 1_000_000, 2_000_000), "growth": (500_000, 1_000_000, 2_000_000),
         "reference": (1_000_000, 2_000_000, 3_000_000)}
QUICK = {"scale": (200_000, 400_000, 800_000), "reference": (500_000, 1_000_000, 1_500_000)}
PEAK = ("import resource, sys\nfrom experiments.cli.commands import app\ncode = 0\ntry:\n"
        "    app(sys.argv[1:])\nexcept SystemExit as stop:\n    code = stop.code or 0\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)")


def peak_bytes(scenario: Path, overrides: list[str]) -> tuple[float, float]:
    """(peak RSS in bytes, seconds) of one `simctl run` in a fresh process."""
    out = tempfile.mkdtemp(prefix="bench-memory-")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, "run", str(scenario), *overrides,
                           "--quiet", "--out", out], capture_output=True, text=True,
                          env={**os.environ, "GROWTHSIM_GRAPH_CACHE": "off"})  # the build's peak
    if done.returncode:
        raise SystemExit(done.stderr)
    return int(done.stderr.strip().splitlines()[-1]) * 1024.0, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--quick", action="store_true", help="smaller markets (a minute)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory.json"))
    args = parser.parse_args()
    rows = []
    for name, sizes in (QUICK if args.quick else SIZES).items():
        path = ROOT / "scenarios" / f"{name}.yaml"
        for size in sizes:
            overrides = [f"market.size={size}", f"days={args.days}", "replicates=1"]
            estimate = memory_estimate(load_scenario(path, overrides))
            peak, seconds = peak_bytes(path, overrides)
            rows.append({"scenario": name, "users": size, "days": args.days,
                         "peak_bytes": peak, "estimate_bytes": estimate,
                         "estimate_over_peak": estimate / peak, "seconds": seconds})
            print(f"{name:10s} {size:>10,} users: peak {peak / 2**20:8.0f} MiB, estimate "
                  f"{estimate / 2**20:8.0f} MiB ({estimate / peak - 1:+.1%}), {seconds:.0f} s",
                  flush=True)
    result = {"what": __doc__.splitlines()[0], "rows": rows,
              "worst": max(abs(r["estimate_over_peak"] - 1) for r in rows),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"worst |estimate / peak - 1|: {result['worst']:.1%} -> {args.out}")


if __name__ == "__main__":
    main()
