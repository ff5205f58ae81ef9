"""Shared helpers: small scenarios written in code, so each test states the rules it relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.engine import daily_table, simulate
from sim.metrics import daily_metrics
from sim.scenario import Scenario, validate_scenario

ROOT = Path(__file__).resolve().parents[1]


def reference_dict(**changes: Any) -> dict[str, Any]:
    """The reference model as a dict; keyword args replace top-level fields."""
    data = yaml.safe_load((ROOT / "scenarios" / "reference.yaml").read_text())
    data.update(changes)
    return data


def scenario_from(data: dict[str, Any]) -> Scenario:
    return validate_scenario(data, "<test>")


@pytest.fixture
def root() -> Path:
    return ROOT


def daily(scenario: Scenario, replicate: int = 0) -> pd.DataFrame:
    """Simulate one replicate and return its daily metrics for the whole market (as numpy-
    friendly columns: d["purchases"].to_numpy())."""
    return daily_metrics(daily_table(simulate(scenario, replicate)))


def as_arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {k: frame[k].to_numpy() for k in frame.columns}
