"""Guards of the theory helpers and the reference model's order values (the checks against
closed forms are in tests/validation/checks.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.theory import bass_mean_field
from tests.conftest import daily
from tests.validation.checks import Z_MAX, all_join_on_day_zero


def test_mean_field_helper_by_hand() -> None:
    """Guards the theory helper itself: the first steps worked out by hand, then saturation."""
    curve = bass_mean_field(0.01, 0.30, 60)
    assert curve[0] == pytest.approx(0.01, abs=1e-15)  # day 0: nobody yet, hazard p
    assert curve[1] == pytest.approx(0.01 + 0.99 * 0.013, abs=1e-15)  # 0.02287
    assert curve[2] == pytest.approx(0.02287 + 0.97713 * (0.01 + 0.3 * 0.02287), abs=1e-15)
    assert np.all(np.diff(curve) > 0) and curve[-1] > 0.9999


def test_order_values_have_the_gamma_mean() -> None:
    c = daily(all_join_on_day_zero(200_000, 60))
    orders, revenue = c["purchases"].sum(), c["gmv"].sum()
    sd_order = math.sqrt(2.0) * 50.0  # Gamma(2, scale 50)
    assert abs(revenue / orders - 100.0) < Z_MAX * sd_order / math.sqrt(orders)
