"""Each lifecycle mechanic does in expectation what its documentation says (fixed seeds,
tolerances of Z binomial standard errors)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from sim.engine import run
from sim.scenario import validate_scenario
from tests.conftest import daily

Z = 4.0


def base(size: int, days: int, **mechanics: dict[str, Any]) -> dict[str, Any]:
    return {"name": "m", "days": days, "seed": 3, "market": {"size": size},
            "mechanics": mechanics}


BUY = {"type": "purchase_dropout", "purchase_rate": {"r": 2.0, "alpha": 20.0},
       "dropout": {"a": 1.0, "b": 1000.0}, "order_value": {"model": "gamma", "shape": 2.0,
                                                           "scale": 50.0}}


def test_funnel_registers_the_consenting_share_of_visits() -> None:
    data = base(200_000, 5, organic={"type": "bass_acquisition", "p": 0.2, "q": 0.0},
                funnel={"type": "funnel", "one_click_consent": 0.37})
    d = daily(validate_scenario(data))
    visits, users = d["visits"].sum(), d["new_users"].sum()
    assert abs(users - 0.37 * visits) < Z * math.sqrt(visits * 0.37 * 0.63)
    assert np.isclose(d["register_cost"].sum(), 0.03 * users)


def test_bounced_visitors_come_back_through_later_visits() -> None:
    """A visitor who does not register stays potential: with consent 0.5 and daily arrival
    probability 0.3, nearly everyone registers within 30 days (1 - 0.85^30 > 0.99)."""
    data = base(20_000, 30, organic={"type": "bass_acquisition", "p": 0.3, "q": 0.0},
                funnel={"type": "funnel", "one_click_consent": 0.5})
    d = daily(validate_scenario(data))
    assert d["acquired_users"].iloc[-1] > 0.99 * 20_000
    assert d["visits"].sum() > 1.5 * d["new_users"].sum()


def test_checkout_pays_the_share_theory_says() -> None:
    """Share of checkouts paid = (1 - a) + a * c * r (abandon, consent, recover)."""
    a, c, r = 0.7, 0.4, 0.25
    buy = {**BUY, "checkout": {"cart_abandonment": a,
                               "reminder": {"consent_prob": c, "recovery_rate": r}}}
    data = base(100_000, 40, seed={"type": "seed_users", "count": 100_000}, purchase=buy)
    d = daily(validate_scenario(data))
    orders, abandoned = d["purchases"].sum(), d["carts_abandoned"].sum()
    checkouts = orders + abandoned - d["recovered_orders"].sum()
    paid = (1 - a) + a * c * r
    assert abs(orders - paid * checkouts) < Z * math.sqrt(checkouts * paid * (1 - paid))
    reminded = d["reminders_sent"].sum()
    assert reminded <= abandoned  # never more messages than consents, consents <= carts
    assert abs(reminded - c * abandoned) < Z * math.sqrt(abandoned * c * (1 - c))


def test_first_orders_within_30_days_match_the_setting() -> None:
    buy = {**BUY, "first_order": {"within_30_days": 0.2}}
    data = base(100_000, 30, seed={"type": "seed_users", "count": 100_000}, purchase=buy)
    d = daily(validate_scenario(data))
    buyers = d["first_purchases"].sum()
    assert abs(buyers - 0.2 * 100_000) < Z * math.sqrt(100_000 * 0.2 * 0.8)


def gift_lift(value: float, lift: float, at: float = 10.0, half: float = 10.0) -> float:
    """The gift's first-order lift at `value` yuan: `lift` at `at` yuan on a Hill curve."""
    return lift * (value / (value + half)) / (at / (at + half))


def test_gift_lifts_first_orders_and_is_booked_when_redeemed() -> None:
    buy = {**BUY, "first_order": {"within_30_days": 0.2}}
    gift = {"type": "new_user_gift", "value": 5.0, "first_order_lift": 0.5}
    data = base(100_000, 30, seed={"type": "seed_users", "count": 100_000}, gift=gift,
                purchase=buy)
    d = daily(validate_scenario(data))
    daily_p = 1 - 0.8 ** (1 / 30) * 1.0
    lifted = 1 - (1 - daily_p * (1 + gift_lift(5.0, 0.5))) ** 30  # a 5-yuan gift: lift 1/3
    buyers = d["first_purchases"].sum()
    assert abs(buyers - lifted * 100_000) < Z * math.sqrt(100_000 * lifted * (1 - lifted))
    # the gift is booked on the first order, capped at its value: E[min(5, V)], V ~ Gamma(2, 50)
    value = stats.gamma(2.0, scale=50.0)
    mean = integrate.quad(lambda v: min(5.0, v) * value.pdf(v), 0, 5000.0, points=[5.0])[0]
    second = integrate.quad(lambda v: min(5.0, v) ** 2 * value.pdf(v), 0, 5000.0,
                            points=[5.0])[0]
    sd = math.sqrt(second - mean**2)
    assert abs(d["gift_cost"].sum() - buyers * mean) < Z * sd * math.sqrt(buyers)


@pytest.mark.parametrize(("value", "at", "half"), [(0.0, 10.0, 10.0), (30.0, 10.0, 10.0),
                                                 (20.0, 5.0, 40.0)])
def test_gift_lift_follows_its_value_on_a_saturating_curve(value: float, at: float,
                                                           half: float) -> None:
    """First orders within 30 days are Binomial(N, 1 - (1 - q (1 + lift(value)))^30): a
    0-yuan gift lifts nothing, a 30-yuan one 1.5x the 10-yuan lift (before, every value got
    the whole lift, so a search over the value always answered 0 yuan)."""
    buy = {**BUY, "first_order": {"within_30_days": 0.2}}
    gift = {"type": "new_user_gift", "value": value, "first_order_lift": 0.5,
            "lift_at_value": at, "half_lift_value": half}
    data = base(100_000, 30, seed={"type": "seed_users", "count": 100_000}, gift=gift,
                purchase=buy)
    buyers = daily(validate_scenario(data))["first_purchases"].sum()
    lifted = 1 - (1 - (1 - 0.8 ** (1 / 30)) * (1 + gift_lift(value, 0.5, at, half))) ** 30
    assert abs(buyers - lifted * 100_000) < Z * math.sqrt(100_000 * lifted * (1 - lifted))


def test_kol_post_brings_reach_times_click_rate_visits() -> None:
    post = {"day": 0, "cost": 800, "reach": 50_000, "click_rate": 0.04, "half_life_days": 1}
    data = base(1_000_000, 30, kol={"type": "kol_posts", "posts": [post]})
    d = daily(validate_scenario(data))
    expected = 50_000 * 0.04 * (1 - 0.5**30)  # the geometric tail past day 29 is lost
    assert abs(d["visits"].sum() - expected) < Z * math.sqrt(expected)
    assert d["kol_spend"].sum() == 800 and d["kol_spend"].iloc[0] == 800


def test_ads_show_diminishing_returns_as_the_audience_is_used_up() -> None:
    ads = {"type": "paid_ads", "daily_budget": 2000, "cpm": 10, "ctr": 0.02}
    result = run(validate_scenario(base(50_000, 40, ads=ads)))
    d = result.metrics
    early, late = d["new_users"].iloc[:5].sum(), d["new_users"].iloc[-5:].sum()
    assert late < 0.7 * early  # same spend, fewer users
    # day 0 exactly: each of N users clicks with 1 - exp(-imps * ctr / N)
    p = 1 - math.exp(-2000 / 10 * 1000 * 0.02 / 50_000)
    assert abs(d["new_users"].iloc[0] - 50_000 * p) < Z * math.sqrt(50_000 * p * (1 - p))
    assert (d["ad_spend"] == 2000).all()


def test_spend_coupon_tops_up_and_discounts() -> None:
    coupon = {"threshold": 100.0, "discount": 10.0, "redemption": 1.0, "top_up_band": 0.2,
              "top_up_prob": 1.0}
    data = base(50_000, 30, seed={"type": "seed_users", "count": 50_000},
                purchase={**BUY, "spend_coupon": coupon})
    d = daily(validate_scenario(data))
    # with redemption 1 every order >= 100 (after top-ups) gets 10 off: P(Gamma(2,50) >= 80)
    share = math.exp(-80 / 50) * (1 + 80 / 50)
    orders = d["purchases"].sum()
    discounted = d["coupon_cost"].sum() / 10.0
    assert abs(discounted - share * orders) < Z * math.sqrt(orders * share * (1 - share))


def test_unit_economics_cac_is_the_cac_metric_and_retention_exists() -> None:
    from sim.scenario import load_scenario
    from tests.conftest import ROOT

    scenario = load_scenario(ROOT / "scenarios" / "cold_start.yaml", ["market.size=5000"])
    result = run(scenario)
    economics = result.unit_economics().set_index("channel")
    assert np.isclose(economics.loc["all", "cac"], result.summary()["cac"]["mean"])
    ads = result.channel_summary()["ads"]["cac"]["mean"]
    assert np.isclose(economics.loc["ads", "cac"], ads)
    grid = result.retention()
    assert not grid.empty and (grid.iloc[:, 0] == 1.0).all()  # everyone opens on joining


def test_ltv_by_cohort_pools_to_the_channel_ltv() -> None:
    """Per-cohort LTVs, weighted by their buyers, give back the pooled LTV of unit economics."""
    from sim.scenario import load_scenario
    from tests.conftest import ROOT

    scenario = load_scenario(ROOT / "scenarios" / "cold_start.yaml",
                             ["market.size=5000", "days=240"])
    result = run(scenario)
    c = result.counters[0]
    cohorts = result.ltv_by_cohort()
    first = c.cohort_counts["first_order"].sum(axis=1)[:, :30].sum(axis=1)
    buyers = first[cohorts.index.to_numpy()]
    mature = cohorts["ltv_30d_margin"].notna()
    pooled = (cohorts.loc[mature, "ltv_30d_margin"] * buyers[mature]).sum() / buyers[mature].sum()
    whole = result.unit_economics().set_index("channel").loc["all", "ltv_30d_margin"]
    assert np.isclose(pooled, whole)
    assert cohorts["ltv_180d_gmv"].notna().sum() < cohorts["ltv_30d_gmv"].notna().sum()
