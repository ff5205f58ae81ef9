"""新品内测 early access: invitations, acceptance, samples, the repeat-purchase lift and reviews
checked against their closed forms and the event log."""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.report.operations import operations_section
from experiments.report.parts import mean_daily
from sim.engine import run
from sim.errors import InputError
from tests.conftest import logged, mechanics_scenario, of, within

PURCHASE: dict[str, Any] = {
    "type": "purchase_dropout",
    "first_order": {"within_30_days": 0.9},
    "purchase_rate": {"r": 4.0, "alpha": 80.0, "time_unit_days": 1},  # about 0.05 a day
    "dropout": {"a": 0.001, "b": 1000.0},  # (almost) nobody drops out: orders count the rate
    "order_value": {"model": "gamma", "shape": 2.0, "scale": 50.0},
}
DROP_DAY = 40


def _scenario(size: int, seeds: int, **early: Any):
    access = {"type": "early_access", "community": False, "min_tier": None, "min_orders": 1,
              "slots": size, "first_drop_day": DROP_DAY, "drop_every_days": 1000,
              "accept_prob": 0.5, "repurchase_lift": 1.0, "review_prob": 0.3, **early}
    return mechanics_scenario(size, 80, 11, seeds={"type": "seed_users", "count": seeds},
                              purchase=PURCHASE, early_access=access)


def test_invites_acceptance_samples_and_reviews_match_their_laws() -> None:
    events, counters, _ = logged(_scenario(20_000, 20_000, sample_cost=12.0))
    invites, testers, reviews = (of(events, e) for e in ("ea_invite", "ea_tester", "ea_review"))
    assert set(invites["day"]) == {DROP_DAY}  # one drop, on its day
    before = events[events["day"] <= DROP_DAY]  # the purchase stage runs before this one
    buyers = set(of(before, "order")["user"]) - set(of(before, "churned")["user"])
    assert set(invites["user"]) == buyers  # every eligible (a buyer, alive) and nobody else
    assert set(testers["user"]) <= set(invites["user"])
    assert set(reviews["user"]) <= set(testers["user"])
    assert within(len(testers), len(invites), 0.5)
    assert within(len(reviews), len(testers), 0.3)
    assert np.allclose(testers["amount"], 12.0)
    assert counters["ea_tester_amount"].sum() == 12.0 * len(testers)


def test_slots_cap_the_invitations() -> None:
    events, _, _ = logged(_scenario(20_000, 20_000, slots=500))
    assert len(of(events, "ea_invite")) == 500


def test_the_repeat_purchase_lift_is_the_declared_factor() -> None:
    """The accept coin randomises invited users into testers and the rest, so the ratio of
    their orders after the drop estimates 1 + repurchase_lift (no dropout, rates far below 1);
    the tolerance is four delta-method standard errors of the ratio of means."""
    events, _, _ = logged(_scenario(40_000, 40_000, repurchase_lift=1.0))
    invited = of(events, "ea_invite")["user"].to_numpy()
    tested = np.isin(invited, of(events, "ea_tester")["user"].to_numpy())
    after = of(events[events["day"] > DROP_DAY], "order")["user"].to_numpy()
    per_user = np.bincount(after, minlength=40_000)[invited].astype(float)
    x, y = per_user[tested], per_user[~tested]
    ratio = x.mean() / y.mean()
    se = ratio * np.sqrt(x.var(ddof=1) / len(x) / x.mean() ** 2
                         + y.var(ddof=1) / len(y) / y.mean() ** 2)
    assert abs(ratio - 2.0) <= 4 * se, (ratio, se)


def test_reviews_bring_users_through_their_own_channel() -> None:
    sc = _scenario(40_000, 10_000, review_prob=1.0, review_conversion=0.5)
    events, counters, _ = logged(sc)
    joined = of(events, "ea_review_join")
    acquired = of(events, "acquired")
    via = acquired[acquired["channel"] == "early_access"]
    assert len(joined) > 0 and set(joined["user"]) == set(via["user"])
    assert (joined["day"] == DROP_DAY).all()  # no funnel: they register at once
    assert counters["ea_review_join"].sum() == len(via)


def test_metrics_ledger_and_report_come_from_the_declarations() -> None:
    result = run(_scenario(5_000, 5_000).model_copy(update={"replicates": 1}))
    total = result.horizon().iloc[0]
    assert total["early_access_cost"] == 15.0 * total["early_access_testers"]
    assert abs(total["early_access_acceptance"]
               - total["early_access_testers"] / total["early_access_invites"]) < 1e-12
    ledger = result.metrics[["gross_margin", "contribution"]].sum()
    assert ledger["contribution"] < ledger["gross_margin"]  # the samples are a cost line
    html = operations_section(mean_daily(result.metrics), {})
    assert "新品内测 Early access" in html and "early_access_testers" in html


def test_a_wrong_setting_is_refused_at_its_field() -> None:
    try:
        _scenario(1_000, 1_000, accept_prob=1.5)
    except InputError as exc:
        assert "mechanics.early_access.accept_prob" in str(exc)
    else:
        raise AssertionError("accept_prob 1.5 was accepted")
