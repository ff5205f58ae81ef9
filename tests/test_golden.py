"""Refactoring changes no number: every shipped scenario, run small, gives the daily metrics
stored in tests/golden/ (written by `python -m tests.golden` before the change). The same
metrics (column order is presentation: it follows the catalogue), compared to 1e-12 relative:
bit-identical on the machine that wrote them, robust to a newer numpy summing in another
order."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.golden import CASES, metrics, path


@pytest.mark.parametrize("name", list(CASES))
def test_scenario_metrics_equal_the_golden_ones(name: str) -> None:
    stored = pd.read_parquet(path(name))
    now = metrics(name)
    assert sorted(now.columns) == sorted(stored.columns)
    pd.testing.assert_frame_equal(now[stored.columns], stored, check_exact=False, rtol=1e-12,
                                  atol=1e-12)
