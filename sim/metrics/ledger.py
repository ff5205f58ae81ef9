"""The money ledger: GMV, what comes off it, what adds to it, and the totals it passes through.

Every metric with a `ledger` line (sim.metric.LedgerLine) takes its place by rank; the catalogue
assembles `LEDGER` from them, `net_revenue`, `gross_margin` and `contribution` are defined by it,
and the report's waterfall draws it, so the picture and the numbers cannot disagree. Ranks, by
section (a mechanic adding a line picks a free rank in its section):

- 10: GMV (absolute);
- 20-100: discounts and refunds (coupons, gifts, referral coupons, member prices, points,
  refunds, flash sales; relative);
- 110: income (membership fees);
- 120: net_revenue (total);
- 130: cost of goods (relative);
- 140: gross_margin (total);
- 150-230: acquisition costs (ads, KOLs, touch points, registration fees, share rewards,
  bargains, commissions; relative);
- 240-300: engagement and operating costs (automations, perks, community, content, live,
  recommender, logistics, holding; relative);
- 310: contribution (total).
"""

from __future__ import annotations

import pandas as pd

from sim.metric import ORDER, SPEND, LedgerLine, Metric

LTV_MARGIN = "gross_margin"  # the LEDGER total LTV's margin basis is (per new buyer)


def acquisition_spend(c: pd.DataFrame) -> pd.Series:
    """The sum of every metric marked `acquisition` (defined by whichever module records it),
    each as zero where its counters are absent."""
    from sim.metrics.catalog import METRICS

    total = c["ad_spend"] * 0.0
    for metric in METRICS.values():
        if metric.acquisition:
            total = total + metric.compute(c)  # type: ignore[misc]
    return total


def ledger_total(c: pd.DataFrame, total: str) -> pd.Series:
    """GMV minus every cost line and plus every income line above `total` (a total in
    LEDGER), in LEDGER order."""
    from sim.metrics.catalog import LEDGER, daily_value

    running = daily_value("gmv", c)
    for name, role in LEDGER[1:]:
        if name == total:
            return running
        if role == "relative":
            running = running - daily_value(name, c)
        elif role == "income":
            running = running + daily_value(name, c)
    raise KeyError(total)


def ledger_events(total: str) -> set[str]:
    """Events the LEDGER lines down to `total` are computed from."""
    from sim.metrics.catalog import LEDGER, counter_columns

    names = [name for name, _ in LEDGER]
    lines = names[: names.index(total)]
    return {c.removesuffix("_amount") for line in lines for c in counter_columns(line)}


METRICS: tuple[Metric, ...] = (
    Metric("net_revenue", "yuan", "flow",
           "gmv minus every discount and refund line before it in the LEDGER, plus income lines "
           "such as membership_fees (the LEDGER in sim/metrics/ledger.py).",
           ORDER, compute=lambda c: ledger_total(c, "net_revenue"), zh="净收入", headline=True,
           health=True, ledger=LedgerLine("total", 120)),
    Metric("gross_margin", "yuan", "flow",
           "net_revenue - cogs.",
           ORDER, compute=lambda c: ledger_total(c, "gross_margin"), zh="毛利", headline=True,
           ledger=LedgerLine("total", 140)),
    Metric("ad_spend", "yuan", "flow",
           "Paid-ads spend.",
           SPEND, compute=lambda c: c["ad_spend"], zh="广告投放", good="down",
           ledger=LedgerLine("relative", 150), acquisition=True),
    Metric("kol_spend", "yuan", "flow",
           "KOL/KOC post fees, booked on the post day.",
           SPEND, compute=lambda c: c["kol_spend"], zh="KOL/KOC 投放", good="down",
           ledger=LedgerLine("relative", 160), acquisition=True),
    Metric("acquisition_spend", "yuan", "flow",
           "Every cost of winning users, as the metrics declare it (`acquisition`): ads, KOLs, "
           "touch points, registration fees, new-user gifts, referral coupons and rewards, "
           "bargains, commissions, whichever the scenario runs.",
           SPEND, compute=lambda c: acquisition_spend(c), zh="获客支出", headline=True,
           good="neither"),  # more spend is neither good nor bad news: CAC and ROI judge it
    Metric("contribution", "yuan", "flow",
           "gross_margin minus every cost line after it in the LEDGER (sim/metrics/ledger.py): "
           "acquisition, engagement and operating costs.",
           (*SPEND, *ORDER), compute=lambda c: ledger_total(c, "contribution"), zh="贡献利润",
           headline=True, health=True, ledger=LedgerLine("total", 310)),
    Metric("cac", "yuan/buyer", "ratio",
           "Acquisition cost per new buyer (获客成本): acquisition_spend / won_first_purchases. "
           "Blended: organic and seed users' first orders count as new buyers too, an existing "
           "base's (seed_users with existing: true) do not; the unit economics give CAC per "
           "channel.",
           (*SPEND, "first_order"), numerator="acquisition_spend",
           denominator="won_first_purchases",
           zh="获客成本（CAC）", good="down", headline=True),
    Metric("roi", "ratio", "ratio",
           "Return on acquisition spend: contribution / acquisition_spend.",
           (*SPEND, *ORDER), numerator="contribution", denominator="acquisition_spend",
           zh="投资回报率（ROI）", headline=True),
)
