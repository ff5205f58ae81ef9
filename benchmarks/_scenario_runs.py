"""Shared by the scenario benchmarks: time a scenario in fresh processes and summarise.

Each measurement is a subprocess running `_measure.py`, so its peak RSS is that run's alone;
the summary is the median of the runs (the machines are shared and noisy).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(scenario: str, *overrides: str) -> dict:
    """One fresh-process run of scenarios/<scenario> (or a path) with overrides."""
    path = Path(scenario) if Path(scenario).is_absolute() else ROOT / "scenarios" / scenario
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_measure.py"), str(path),
                          *overrides], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def summarise(name: str, runs: list[dict], target_seconds: float | None = None) -> dict:
    """Medians of wall time and memory over runs, printed as one line and returned."""
    result = {
        "users": runs[0]["users"], "days": runs[0]["days"],
        "seconds_median": statistics.median(r["seconds"] for r in runs),
        "seconds_all": [round(r["seconds"], 2) for r in runs],
        "peak_rss_mb_median": statistics.median(r["peak_rss_bytes"] for r in runs) / 2**20,
        "traced_peak_mb_median": statistics.median(r["traced_peak_bytes"] for r in runs) / 2**20,
    }
    target = ""
    if target_seconds is not None:
        result["target_seconds"] = target_seconds
        target = f", target {target_seconds:g} s"
    print(f"{name}: {result['users']:,} x {result['days']}: {result['seconds_median']:.2f} s "
          f"(runs {result['seconds_all']}{target}), peak RSS "
          f"{result['peak_rss_mb_median']:.0f} MB, arrays "
          f"{result['traced_peak_mb_median']:.0f} MB", flush=True)
    return result


def write(results: dict, file: str) -> None:
    (ROOT / "benchmarks" / "results" / file).write_text(json.dumps(results, indent=2))
