"""Issue 2 benchmark: the reference model at 100k and 1M users x 365 days, one replicate, one
core; cost linearity in users x days; the speed-up over one Python object per user.

Each measurement is a fresh subprocess (clean peak RSS); figures are medians of RUNS runs.
Targets: 1M x 365 in <= 2 s of simulation and <= 300 MB peak.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import mesa_reference  # noqa: E402
import object_per_user  # noqa: E402
from _machine import machine  # noqa: E402

RUNS = 5
SCENARIO = str(ROOT / "scenarios" / "reference.yaml")


def measure(*overrides: str) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_measure.py"), SCENARIO,
                          *overrides], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> dict:
    cases = {"100k x 365": ("market.size=100000", "days=365"),
             "1M x 365": ("market.size=1000000", "days=365"),
             "1M x 182": ("market.size=1000000", "days=182"),
             "1M x 730": ("market.size=1000000", "days=730")}
    results: dict[str, dict] = {}
    for label, overrides in cases.items():
        runs = [measure(*overrides) for _ in range(RUNS)]
        results[label] = {
            "seconds_median": median_of(runs, "seconds"),
            "seconds_all": [round(r["seconds"], 3) for r in runs],
            "peak_rss_mb_median": median_of(runs, "peak_rss_bytes") / 2**20,
            "traced_peak_mb_median": median_of(runs, "traced_peak_bytes") / 2**20,
        }
        print(f"{label:>12}: {results[label]['seconds_median']:.2f} s, peak RSS "
              f"{results[label]['peak_rss_mb_median']:.0f} MB "
              f"(arrays {results[label]['traced_peak_mb_median']:.0f} MB)", flush=True)
    per_user_day = {k: v["seconds_median"] / (int(cases[k][0].split("=")[1]) *
                                               int(cases[k][1].split("=")[1]))
                    for k, v in results.items()}
    # Object-per-user baselines at small sizes, extrapolated linearly to 1M (Mesa's cost per
    # agent-day is checked to be flat between the two sizes), medians of 3 runs each.
    baselines = {}
    for name, module in (("mesa3", mesa_reference), ("plain_python_objects", object_per_user)):
        per_size = {}
        for users in (10_000, 30_000):
            times = []
            for _ in range(3):
                started = time.perf_counter()
                module.run(users, 365)
                times.append(time.perf_counter() - started)
            per_size[users] = statistics.median(times)
        estimate = per_size[30_000] * 1_000_000 / 30_000
        baselines[name] = {
            "seconds_10k_x_365": per_size[10_000], "seconds_30k_x_365": per_size[30_000],
            "estimated_seconds_1M_x_365": estimate,
            "speedup_of_engine_1M": estimate / results["1M x 365"]["seconds_median"],
        }
    # Cost in days is affine: set-up and the acquisition wave, then one column scan a day.
    slope_ms_per_day = ((results["1M x 730"]["seconds_median"]
                         - results["1M x 182"]["seconds_median"]) / (730 - 182) * 1e3)
    print(f"marginal cost per extra day at 1M users: {slope_ms_per_day:.2f} ms", flush=True)
    summary = {
        "machine": machine(),
        "marginal_ms_per_day_1M": slope_ms_per_day,
        "runs_per_case": RUNS,
        "cases": results,
        "ns_per_user_day": {k: v * 1e9 for k, v in per_user_day.items()},
        "object_per_user": baselines,
    }
    print("ns per user-day: " + ", ".join(f"{k} {v:.2f}" for k, v in
                                          summary["ns_per_user_day"].items()))
    for name, b in baselines.items():
        print(f"{name}: 10k x 365 {b['seconds_10k_x_365']:.2f} s, 30k x 365 "
              f"{b['seconds_30k_x_365']:.2f} s -> 1M x 365 ~ "
              f"{b['estimated_seconds_1M_x_365'] / 60:.1f} min; engine "
              f"{b['speedup_of_engine_1M']:.0f}x faster")
    return summary


if __name__ == "__main__":
    data = main()
    (ROOT / "benchmarks" / "results" / "reference.json").write_text(json.dumps(data, indent=2))
