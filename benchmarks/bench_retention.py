"""Issue 5 benchmark: scenarios/retention.yaml at 1M users x 365 days, one replicate, one core.

Target: <= 15 s of simulation with segments, automations, tiers, points, paid membership,
community groups, live streams and recommendations on. Each run is a fresh process (clean peak
RSS, see _measure.py); the figure is the median of RUNS runs.
"""

from __future__ import annotations

from _scenario_runs import measure, summarise, write

RUNS = 3
TARGET_SECONDS = 15.0


def main() -> dict:
    runs = [measure("retention.yaml") for _ in range(RUNS)]
    return {"retention.yaml": summarise("retention.yaml", runs, TARGET_SECONDS)}


if __name__ == "__main__":
    write(main(), "retention.json")
