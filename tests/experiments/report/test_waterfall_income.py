"""The report's waterfall draws ledger income (membership fees) as a positive step, so its
running sum still lands on net revenue, gross margin and contribution."""

from __future__ import annotations

from experiments.report.lifecycle import ledger_gaps, waterfall_steps


def test_membership_fees_are_a_positive_step() -> None:
    metrics = {"gmv": {"mean": 100.0}, "coupon_cost": {"mean": 10.0},
               "membership_fees": {"mean": 30.0}, "net_revenue": {"mean": 120.0},
               "cogs": {"mean": 60.0}, "gross_margin": {"mean": 60.0},
               "member_perk_cost": {"mean": 5.0}, "contribution": {"mean": 55.0}}
    steps = {name: (measure, value) for name, measure, value in waterfall_steps(metrics)}
    assert steps["membership_fees"] == ("relative", 30.0)
    assert steps["coupon_cost"] == ("relative", -10.0)
    assert steps["member_perk_cost"] == ("relative", -5.0)
    assert ledger_gaps(waterfall_steps(metrics)) == {}
    metrics["net_revenue"] = {"mean": 60.0}  # fees subtracted instead of added: caught
    assert "net_revenue" in ledger_gaps(waterfall_steps(metrics))
