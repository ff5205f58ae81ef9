"""Shared helpers: small scenarios written in code, so each test states the rules it relies on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.aggregation import daily_table
from sim.engine import simulate
from sim.metrics import daily_metrics
from sim.scenario import Scenario, validate_scenario

ROOT = Path(__file__).resolve().parents[1]
# large generated graphs go to the checkout's own store, not the user's (sim/graph_store.py)
os.environ.setdefault("GROWTHSIM_GRAPH_CACHE", str(ROOT / ".pytest_cache" / "graphs"))


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


def mechanics_scenario(size: int, days: int, seed: int, **mechanics: Any) -> Scenario:
    """A one-persona market of `size` users with just these mechanics."""
    return validate_scenario({"name": "t", "days": days, "seed": seed,
                              "market": {"size": size}, "mechanics": mechanics}, "<test>")


def logged(sc: Scenario) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Simulate replicate 0 with the event log: (event table, daily counters, extras)."""
    from sim.events import event_table
    from sim.planning import layout_of

    counters = simulate(sc, log_events=True)
    return event_table(counters, layout_of(sc)), daily_table(counters), counters.extras


def of(events: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of one event in an event table."""
    return events[events["event"] == name]


def within(observed: float, n: float, p: float, z: float = 4.0) -> bool:
    """A Binomial(n, p) count within z standard deviations of its mean."""
    return abs(observed - n * p) <= z * float(np.sqrt(max(n * p * (1 - p), 1e-12)))
