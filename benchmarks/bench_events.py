"""Bytes per event of `simctl run --events` at peak (issue 17): the same scale.yaml run with and
without the event log, each in its own process; the difference of peak resident memory over the
events written. Writes benchmarks/results/events.json.

Usage: python benchmarks/bench_events.py [--users 200000] [--days 365] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "scale.yaml"


def peak_run(users: int, days: int, events: bool) -> tuple[float, float, int]:
    """(peak RSS in bytes, seconds, events written) of one `simctl run` in a fresh process."""
    out = Path(tempfile.mkdtemp(prefix="bench-events-"))
    code = ("import resource, sys\n"
            "from experiments.cli.commands import app\n"
            "code = 0\ntry:\n    app(sys.argv[1:])\nexcept SystemExit as stop:\n"
            "    code = stop.code or 0\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(code)")
    args = [sys.executable, "-c", code, "run", str(SCENARIO), f"market.size={users}",
            "market.reference_size=1000000",  # scale.yaml is written for 1M users
            f"days={days}", "--quiet", "--out", str(out)] + (["--events"] if events else [])
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    seconds = time.perf_counter() - started
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    folder = Path(done.stdout.strip().splitlines()[-1])
    written = pq.ParquetFile(folder / "events.parquet").metadata.num_rows if events else 0
    return peak_kib * 1024.0, seconds, written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "events.json"))
    args = parser.parse_args()
    pairs = [(peak_run(args.users, args.days, False), peak_run(args.users, args.days, True))
             for _ in range(args.runs)]
    per_event = [(w[0] - wo[0]) / w[2] for wo, w in pairs]
    result = {"what": __doc__.splitlines()[0], "scenario": "scale.yaml",
              "users": args.users, "days": args.days, "runs": args.runs,
              "events": pairs[0][1][2],
              "peak_without_events_mb": statistics.median(p[0][0] for p in pairs) / 1e6,
              "peak_with_events_mb": statistics.median(p[1][0] for p in pairs) / 1e6,
              "bytes_per_event_at_peak": statistics.median(per_event),
              "seconds_without": statistics.median(p[0][1] for p in pairs),
              "seconds_with": statistics.median(p[1][1] for p in pairs),
              "machine": f"{platform.machine()} {os.cpu_count()} cores, "
                         f"{platform.python_version()}"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2), "utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
