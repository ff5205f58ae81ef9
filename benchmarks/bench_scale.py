"""Issue 9 benchmark: scenarios/scale.yaml at 1M users x 365 days, one replicate, one core.

Target: <= 20 s of simulation with the catalogue, inventory, touch points and everything of the
earlier stages on. Each run is a fresh process; the figure is the median of RUNS runs.
"""

from __future__ import annotations

from _scenario_runs import measure, summarise, write

RUNS = 3
TARGET_SECONDS = 20.0


def main() -> dict:
    runs = [measure("scale.yaml") for _ in range(RUNS)]
    return {"scale.yaml": summarise("scale.yaml", runs, TARGET_SECONDS)}


if __name__ == "__main__":
    write(main(), "scale.json")
