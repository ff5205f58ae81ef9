"""Golden metrics: every shipped scenario, small, as metrics.parquet (see tests/test_golden.py).

`python -m tests.golden` rewrites the files; do that only when a change of the numbers is
intended and stated (a fixed bug, a new random stream), never to make a refactor pass.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.engine import run
from sim.scenario import Scenario, load_scenario

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# Small markets that keep every mechanic busy: sizes, seeds and budgets scaled down together by
# hand, as they were before the shipped scenarios declared market.reference_size; setting the
# reference size to the size itself keeps these inputs (and the stored numbers) unchanged.
CASES: dict[str, list[str]] = {
    "reference": ["market.size=20000", "days=120"],
    "cold_start": ["market.size=30000", "market.reference_size=30000", "days=120",
                   "mechanics.ads.daily_budget=100"],
    "growth_baseline": ["market.size=30000", "market.reference_size=30000", "days=150",
                        "mechanics.seed.count=600", "mechanics.ads.daily_budget=200"],
    "growth": ["market.size=30000", "market.reference_size=30000", "days=150",
               "mechanics.seed.count=600", "mechanics.ads.daily_budget=200"],
    "retention": ["market.size=20000", "market.reference_size=20000", "days=150",
                  "mechanics.existing.count=3000", "mechanics.ads.daily_budget=200"],
    "scale": ["market.size=20000", "market.reference_size=20000", "days=150",
              "mechanics.existing.count=8000", "mechanics.ads.daily_budget=200"],
    "ab_referral": ["market.size=10000", "mechanics.seed.count=300"],
    "cdnow": ["days=120"],
}


def scenario(name: str) -> Scenario:
    return load_scenario(ROOT / "scenarios" / f"{name}.yaml", CASES[name])


def metrics(name: str) -> pd.DataFrame:
    """Whole-market and per-arm daily metrics of replicate 0, one frame."""
    result = run(scenario(name))
    return pd.concat([result.metrics.assign(arm="*"), result.arm_metrics], ignore_index=True)


def path(name: str) -> Path:
    return HERE / f"{name}.parquet"


def main() -> None:
    for name in CASES:
        metrics(name).to_parquet(path(name))
        print(path(name))


if __name__ == "__main__":
    main()
