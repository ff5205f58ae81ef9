"""Shared helpers: small scenarios written in code, so each test states the rules it relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

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
