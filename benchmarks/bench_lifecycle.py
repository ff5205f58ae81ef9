"""Issue 3 benchmark: scenarios/cold_start.yaml at 1M users x 365 days, one replicate, one core.

Target: <= 5 s of simulation and <= 1 GB peak. Each run is a fresh process (clean peak RSS);
the figure is the median of RUNS runs. growth_baseline.yaml is measured the same way.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5


def measure(scenario: str, *overrides: str) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_measure.py"),
                          str(ROOT / "scenarios" / scenario), *overrides],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> dict:
    results = {}
    for scenario in ("cold_start.yaml", "growth_baseline.yaml"):
        runs = [measure(scenario) for _ in range(RUNS)]
        results[scenario] = {
            "users": runs[0]["users"], "days": runs[0]["days"],
            "seconds_median": statistics.median(r["seconds"] for r in runs),
            "seconds_all": [round(r["seconds"], 2) for r in runs],
            "peak_rss_mb_median": statistics.median(r["peak_rss_bytes"] for r in runs) / 2**20,
            "traced_peak_mb_median": statistics.median(r["traced_peak_bytes"]
                                                       for r in runs) / 2**20,
        }
        r = results[scenario]
        print(f"{scenario}: {r['users']:,} x {r['days']}: {r['seconds_median']:.2f} s "
              f"(runs {r['seconds_all']}), peak RSS {r['peak_rss_mb_median']:.0f} MB, "
              f"arrays {r['traced_peak_mb_median']:.0f} MB", flush=True)
    return results


if __name__ == "__main__":
    data = main()
    (ROOT / "benchmarks" / "results" / "lifecycle.json").write_text(json.dumps(data, indent=2))
