"""Issue 5 benchmark: scenarios/retention.yaml at 1M users x 365 days, one replicate, one core.

Target: <= 15 s of simulation with segments, automations, tiers and points all on. Each run is
a fresh process (clean peak RSS, see _measure.py); the figure is the median of RUNS runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 3
TARGET_SECONDS = 15.0


def measure(scenario: str, *overrides: str) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_measure.py"),
                          str(ROOT / "scenarios" / scenario), *overrides],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> dict:
    runs = [measure("retention.yaml") for _ in range(RUNS)]
    result = {
        "users": runs[0]["users"], "days": runs[0]["days"],
        "seconds_median": statistics.median(r["seconds"] for r in runs),
        "seconds_all": [round(r["seconds"], 2) for r in runs],
        "target_seconds": TARGET_SECONDS,
        "peak_rss_mb_median": statistics.median(r["peak_rss_bytes"] for r in runs) / 2**20,
        "traced_peak_mb_median": statistics.median(r["traced_peak_bytes"] for r in runs) / 2**20,
    }
    print(f"retention.yaml: {result['users']:,} x {result['days']}: "
          f"{result['seconds_median']:.2f} s (runs {result['seconds_all']}, target "
          f"{TARGET_SECONDS:g} s), peak RSS {result['peak_rss_mb_median']:.0f} MB", flush=True)
    return {"retention.yaml": result}


if __name__ == "__main__":
    data = main()
    (ROOT / "benchmarks" / "results" / "retention.json").write_text(json.dumps(data, indent=2))
