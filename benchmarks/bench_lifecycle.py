"""Issue 3 benchmark: scenarios/cold_start.yaml at 1M users x 365 days, one replicate, one core.

Target: <= 5 s of simulation and <= 1 GB peak. Each run is a fresh process (clean peak RSS);
the figure is the median of RUNS runs. growth_baseline.yaml is measured the same way.
"""

from __future__ import annotations

from _scenario_runs import measure, summarise, write

RUNS = 5


def main() -> dict:
    return {scenario: summarise(scenario, [measure(scenario) for _ in range(RUNS)])
            for scenario in ("cold_start.yaml", "growth_baseline.yaml")}


if __name__ == "__main__":
    write(main(), "lifecycle.json")
