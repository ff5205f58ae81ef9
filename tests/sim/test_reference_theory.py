"""The reference model agrees with theory within a few standard errors (fixed seeds).

Tolerances are Z standard errors, where the standard error comes from theory (binomial or the
exact per-user variance) or, for the mean-field curve, from the spread across replicates.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.theory import bass_mean_field, purchase_moments
from tests.conftest import daily, reference_dict, scenario_from

Z = 4.0  # two-sided, about 6e-5 per check when the code is right


def acquisition_only(size: int, days: int, p: float, q: float, seed: int = 1, reps: int = 1):
    data = reference_dict(days=days, seed=seed, replicates=reps)
    data["market"] = {"size": size}
    data["mechanics"] = {"acquisition": {"type": "bass_acquisition", "p": p, "q": q}}
    return scenario_from(data)


def all_join_on_day_zero(size: int, days: int, seed: int = 2, **purchase):
    """Bass with p = 1 acquires everyone on day 0, so purchases start from a known cohort."""
    data = reference_dict(days=days, seed=seed)
    data["market"] = {"size": size}
    data["mechanics"]["acquisition"].update(p=1.0, q=0.0)
    data["mechanics"]["purchase"].update(purchase)
    return scenario_from(data)


def test_bass_daily_joins_are_binomial_given_the_past() -> None:
    """Exact check: new_t ~ Binomial(U_t, min(1, p + q A_t / N)) given the recorded state."""
    n, p, q = 1_000_000, 0.01, 0.30
    c = daily(acquisition_only(n, 60, p, q))
    new = c["new_users"].to_numpy()
    potential = n - np.concatenate([[0.0], np.cumsum(new)[:-1]])
    alive_start = np.concatenate([[0.0], c["alive_users"].to_numpy()[:-1]])
    hazard = np.minimum(1.0, p + q * alive_start / n)
    var = potential * hazard * (1 - hazard)
    usable = var >= 30  # normal approximation of each binomial is good there
    assert usable.sum() >= 15
    z = (new - potential * hazard)[usable] / np.sqrt(var[usable])
    df = int(usable.sum())
    assert np.sum(z**2) < stats.chi2.ppf(0.9999, df)
    assert abs(z.mean()) < Z / math.sqrt(df)


def test_bass_follows_mean_field_curve_at_large_n() -> None:
    n, p, q, days, reps = 1_000_000, 0.01, 0.30, 40, 12
    scenario = acquisition_only(n, days, p, q, seed=3, reps=reps)
    shares = np.array([daily(scenario, r)["acquired_users"].to_numpy() / n
                       for r in range(reps)])
    expected = bass_mean_field(p, q, days)
    se = shares.std(axis=0, ddof=1) / math.sqrt(reps)
    for day in (0, 5, 10, 15, 20, 30):
        # finite-N bias of the mean is O(1/N) = 1e-6, far below the standard error
        assert abs(shares[:, day].mean() - expected[day]) < Z * se[day] + 2e-6, day


def test_mean_field_helper_by_hand() -> None:
    """Guards the theory helper itself: the first steps worked out by hand, then saturation."""
    curve = bass_mean_field(0.01, 0.30, 60)
    assert curve[0] == pytest.approx(0.01, abs=1e-15)  # day 0: nobody yet, hazard p
    assert curve[1] == pytest.approx(0.01 + 0.99 * 0.013, abs=1e-15)  # 0.02287
    assert curve[2] == pytest.approx(0.02287 + 0.97713 * (0.01 + 0.3 * 0.02287), abs=1e-15)
    assert np.all(np.diff(curve) > 0) and curve[-1] > 0.9999


@pytest.mark.parametrize("days_checked", [(1, 7, 30, 120)])
def test_survivors_and_purchases_match_gamma_beta_theory(days_checked) -> None:
    n, days = 1_000_000, max(days_checked)
    c = daily(all_join_on_day_zero(n, days))
    theory = purchase_moments(0.5, 10.0, 1.0, 4.0, days)
    purchases = np.cumsum(c["purchases"].to_numpy())
    for k in days_checked:
        s = theory.survival[k - 1]
        alive = c["alive_users"].iloc[k - 1]
        assert abs(alive - n * s) < Z * math.sqrt(n * s * (1 - s)), k  # users are iid
        mean, var = theory.mean_purchases[k - 1], theory.var_purchases[k - 1]
        assert abs(purchases[k - 1] - n * mean) < Z * math.sqrt(n * var), k


def test_order_values_have_the_gamma_mean() -> None:
    c = daily(all_join_on_day_zero(200_000, 60))
    orders, revenue = c["purchases"].sum(), c["gmv"].sum()
    sd_order = math.sqrt(2.0) * 50.0  # Gamma(2, scale 50)
    assert abs(revenue / orders - 100.0) < Z * sd_order / math.sqrt(orders)


def test_bgnbd_convention_counts_repeat_purchases_as_theory_says() -> None:
    """CDNOW's BG/NBD fit in weeks, acquisition = first order, no dropout after it."""
    n, days = 500_000, 273
    scenario = all_join_on_day_zero(
        n, days, seed=4, purchase_on_acquisition=True,
        purchase_rate={"r": 0.24, "alpha": 4.41, "time_unit_days": 7, "link": "clip"},
        dropout={"a": 0.79, "b": 2.43},
        order_value={"model": "gamma_gamma", "p": 6.25, "q": 3.74, "v": 15.45},
    )
    c = daily(scenario)
    theory = purchase_moments(0.24, 4.41 * 7, 0.79, 2.43, days, first_purchase_certain=True)
    assert c["first_purchases"].iloc[0] == n  # everyone's first order is on day 0
    total = c["purchases"].sum()
    mean, var = theory.mean_purchases[-1], theory.var_purchases[-1]
    assert abs(total - n * mean) < Z * math.sqrt(n * var)
    s = theory.survival[-1]
    assert abs(c["alive_users"].iloc[-1] - n * s) < Z * math.sqrt(n * s * (1 - s))


def test_gamma_gamma_mean_spend() -> None:
    """Gamma-Gamma mean order value is p v / (q - 1) (about 35.2 on the CDNOW fit)."""
    n = 400_000
    scenario = all_join_on_day_zero(
        n, 30, seed=5, purchase_on_acquisition=True,
        order_value={"model": "gamma_gamma", "p": 6.25, "q": 3.74, "v": 15.45},
    )
    c = daily(scenario)
    first_day_mean = c["gmv"].iloc[0] / n  # one order per user, one per user's nu
    p, q, v = 6.25, 3.74, 15.45
    mean = p * v / (q - 1)
    # Var of one order: E[Var|nu] + Var(E|nu) with nu ~ Gamma(q, rate v)
    e_inv_nu2 = v**2 / ((q - 1) * (q - 2))
    var = p * e_inv_nu2 + p**2 * (e_inv_nu2 - (v / (q - 1)) ** 2)
    assert abs(first_day_mean - mean) < Z * math.sqrt(var / n)
