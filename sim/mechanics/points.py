"""Points: earned by purchase, check-in and review, redeemed on orders, expiring; the liability.

Earning: `earn_per_yuan` points per yuan of each order, times the tier multiplier (the
`points_bonus` column the tiers mechanic writes: points x (1 + bonus)); `review_points` with
`review_prob` after an order; `checkin_points` with `checkin_prob` for each user who opens that
day (needs the activity mechanic); `share_points` for each share today (referral shares, group-buy
openers and bargain initiators all publish `shared` rows), at most `share_points_daily_cap`
shares a user a day. Points for the act of sharing are induced sharing under WeChat's rules
(domain-facts §3.1 WX-SHARE), so the default is 0 and the compliance check flags any other value.
Refunded orders (the purchase mechanic's `refunded` rows) neither earn nor use points: the
refund returns what was paid, so points spent on them would come back with it. A user with a
refunded order that day earns and redeems nothing on that day's other orders (rare).
Redeeming: `points_per_yuan` points = 1 yuan (JD: 100 = 1), at most `max_share_of_order` of the
order (JD: 50%) and at most what the buyer still pays after coupons and member prices (the
`paid` values every booking publishes with `ordered`), only balances of at least
`min_redeem_points`. A `breakage` share of users never redeem (Bond: about 30% of points go
unredeemed); the others redeem on an order with `redeem_prob`. Every `expiry_days` (a SimPy
process marks the day) all balances expire.
Money: every event amount is the face value in yuan (points / points_per_yuan). Redemptions
are money off orders (`points_redeemed`); the outstanding face value and the liability (face
value x (1 - breakage): what the store expects to pay, booked when issued, domain-facts §4.3)
are stocks, kept per cell as running sums so no day scans the market.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field

from sim.compliance import finding, settings
from sim.errors import Problem
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import LedgerLine, Metric, ReportSection, col

REDEEMER = 1  # bit of `points_flags`


class PointsParams(MechanicParams):
    type: Literal["points"] = "points"
    fixed_fields = frozenset({  # one value for the whole market
        "breakage", "checkin_points", "checkin_prob", "earn_per_yuan", "expiry_days",
        "max_share_of_order", "min_redeem_points", "points_per_yuan", "redeem_prob",
        "review_points", "review_prob"})
    earn_per_yuan: float = Field(1.0, ge=0.0, description="Points per yuan ordered (1 is "
                                 "common, Ulta; §8 points_earn_per_rmb).")
    checkin_points: int = Field(5, ge=0, description="Points for a daily check-in.")
    checkin_prob: float = Field(0.2, ge=0.0, le=1.0, description="Chance a user who opens "
                                "checks in (ASSUMPTION).")
    share_points: int = Field(0, ge=0, description="Points per share (referral, group-buy or "
                              "bargain card). 0 by default: points for the share itself are "
                              "induced sharing, a compliance finding (WX-SHARE, §3.1 [OFFICIAL]).")
    share_points_daily_cap: int = Field(3, ge=1, le=100, description="Most shares a user is "
                                        "paid points for in a day (ASSUMPTION 1-5, like the "
                                        "SaaS cap of 3 helps a day, §2.3 [VENDOR]).")
    review_points: int = Field(20, ge=0, description="Points for a review after an order.")
    review_prob: float = Field(0.1, ge=0.0, le=1.0, description="Chance an order is reviewed "
                               "(ASSUMPTION).")
    points_per_yuan: int = Field(100, ge=1, description="Points per yuan when redeemed "
                                 "(JD 100 = 1 yuan, §4.3).")
    max_share_of_order: float = Field(0.5, ge=0.0, le=1.0, description="Most of an order "
                                      "points may pay (JD 50%).")
    min_redeem_points: int = Field(100, ge=1, description="Smallest balance that can be used.")
    redeem_prob: float = Field(0.5, ge=0.0, le=1.0, description="Chance a redeemer uses "
                               "points on an order (ASSUMPTION).")
    breakage: float = Field(0.30, ge=0.0, le=1.0, description="Share of users who never "
                            "redeem (≈30% of points unredeemed, Bond VENDOR; 0.20-0.30 retail).")
    expiry_days: int | None = Field(365, ge=30, description="All balances expire every this "
                                    "many days; omit for never.")


METRICS: tuple[Metric, ...] = (
    Metric("points_issued", "yuan", "flow",
           "Face value of points issued.",
           ("points_issued",), compute=lambda c: c["points_issued_amount"], zh="积分发放",
           group="Points"),
    Metric("points_redeemed", "yuan", "flow",
           "Points used to pay orders (face value).",
           ("points_redeemed",), compute=lambda c: col(c, "points_redeemed_amount"), zh="积分抵扣",
           good="down", group="Points", ledger=LedgerLine("relative", 80)),
    Metric("points_outstanding", "yuan", "stock",
           "Face value of unredeemed, unexpired points.",
           ("points_outstanding",), compute=lambda c: c["points_outstanding"], zh="未兑换积分",
           group="Points"),
    Metric("points_liability", "yuan", "stock",
           "Outstanding points x (1 - breakage).",
           ("points_liability",), compute=lambda c: c["points_liability"],
           zh="积分负债", good="down",
           group="Points"),
)


# --- platform rules and law it must keep (sim/compliance.py runs them) ---------------------


def _share_points(scenario: Any, name: str, params: Any) -> list[Problem]:
    """Points for each share are a reward for sharing itself: induced sharing."""
    out = []
    for where, v, _ in settings(scenario, name, ("share_points",)):
        if v["share_points"] > 0:
            out.append(finding(
                scenario, where("share_points"), "WX-SHARE",
                f"{v['share_points']} points for each share is a reward for sharing "
                "itself, induced sharing (诱导分享, operations spec §5.1 names points); "
                "give points for the friend's registration or order instead",
                zh=f"每次分享送 {v['share_points']} 积分是为分享本身发奖励，属于诱导分享"
                "（《微信小程序平台运营规范》§5.1 明确点名积分）；请改为在好友注册或下单后"
                "再发积分"))
    return out


class Points(Mechanic[PointsParams]):
    stage = StageOrder.LOYALTY
    substage = 4  # after tiers: today's tier multipliers apply
    metrics = METRICS
    report = ReportSection("operations")
    compliance = (_share_points,)
    reads_if_any = ("ordered", "paid", "refunded", "shared")
    uses_if_any = ("last_open_day",)
    events = ("points_issued", "points_redeemed", "points_expired")
    stocks = ("points_outstanding", "points_liability")

    @classmethod
    def columns(cls, params: PointsParams) -> dict[str, np.dtype]:
        return {"points": np.dtype(np.int32), "points_flags": np.dtype(np.int8),
                "points_bonus": np.dtype(np.float32)}

    def setup(self) -> None:
        self.outstanding = np.zeros(self.ctx.layout.n_cells)  # points, per cell
        self.due = False
        if self.params.base.expiry_days is not None:
            self.ctx.env.process(self._expiry())

    def _expiry(self) -> Iterator:
        while True:
            yield self.ctx.env.timeout(self.params.base.expiry_days)
            self.due = True

    def idle(self, day: int) -> None:
        joined = self.pop.new_users(self.name)
        self._flags(joined)
        self._stocks(day)

    def step(self, day: int) -> None:
        pop, base = self.pop, self.params.base
        self._flags(pop.new_users(self.name))
        if self.due:
            self.due = False
            self._expire(day)
        rows, values = self.today("ordered"), self.today_values("ordered")
        paid = self.today_values("paid")  # aligned with `ordered`: every booking emits both
        if len(rows) and len(self.today("refunded")):  # no points on refunded orders
            kept = ~self.pop.among(rows, self.today("refunded"))  # (a user's whole day: rare)
            rows, values, paid = rows[kept], values[kept], paid[kept]
        if len(rows):
            self._redeem(rows, values, paid, day)
            earned = np.floor(values * base.earn_per_yuan
                              * (1.0 + pop["points_bonus"][rows])).astype(np.int64)
            buyers = pop.distinct(rows)
            reviewed = buyers[self.rng.random(len(buyers)) < base.review_prob]
            self._issue(np.concatenate([rows, reviewed]),
                        np.concatenate([earned, np.full(len(reviewed), base.review_points)]),
                        day)
        if self.has("last_open_day") and base.checkin_points > 0:
            opened = pop.day_index("last_open_day", 0).rows_with(day)  # opened today
            checked = opened[self.rng.random(len(opened)) < base.checkin_prob]
            self._issue(checked, np.full(len(checked), base.checkin_points), day)
        if base.share_points > 0 or self.params.varies("share_points"):
            self._share_points(day)
        self._stocks(day)

    def _share_points(self, day: int) -> None:
        """Points for today's shares, counting at most the daily cap of shares per user."""
        sharers, shares = np.unique(self.today("shared"), return_counts=True)
        if not len(sharers):
            return
        group = self.pop.group[sharers]
        paid = np.minimum(shares, self.params.for_rows("share_points_daily_cap", group))
        points = np.floor(paid * self.params.for_rows("share_points", group)).astype(np.int64)
        self._issue(sharers, points, day)

    def _flags(self, joined: np.ndarray) -> None:
        redeemer = self.rng.random(len(joined)) >= self.params.base.breakage
        self.pop["points_flags"][joined] = np.where(redeemer, REDEEMER, 0).astype(np.int8)

    def _change(self, rows: np.ndarray, points: np.ndarray) -> None:
        """Add points (negative to take them) to balances and to the per-cell total."""
        np.add.at(self.pop["points"], rows, points.astype(np.int32))
        self.outstanding += np.bincount(self.pop.cell[rows], weights=points.astype(float),
                                        minlength=len(self.outstanding))

    def moved(self, rows: np.ndarray, old_cells: np.ndarray, new_cells: np.ndarray) -> None:
        """The outstanding points of moved users are counted in their new cells."""
        points = self.pop["points"][rows].astype(float)
        size = len(self.outstanding)
        self.outstanding += (np.bincount(new_cells, weights=points, minlength=size)
                             - np.bincount(old_cells, weights=points, minlength=size))

    def _issue(self, rows: np.ndarray, points: np.ndarray, day: int) -> None:
        keep = points > 0
        rows, points = rows[keep], points[keep]
        if not len(rows):
            return
        self._change(rows, points)
        self.ctx.recorder.event("points_issued", day, rows,
                                points / self.params.base.points_per_yuan)

    def _redeem(self, rows: np.ndarray, values: np.ndarray, paid: np.ndarray,
                day: int) -> None:
        """Redeemers with enough points pay part of one order a day with them: at most
        max_share_of_order of its list value and never more than the buyer still paid after
        coupons and member prices (the order's money identity)."""
        pop, base = self.pop, self.params.base
        rows, first = np.unique(rows, return_index=True)
        values = np.minimum(values[first] * base.max_share_of_order, paid[first])
        balance = pop["points"][rows].astype(np.int64)
        can = ((pop["points_flags"][rows] & REDEEMER) != 0) & (balance >= base.min_redeem_points)
        use = can & (self.rng.random(len(rows)) < base.redeem_prob)
        rows, values, balance = rows[use], values[use], balance[use]
        cap = np.floor(values * base.points_per_yuan).astype(np.int64)
        spent = np.minimum(balance, cap)
        keep = spent > 0
        rows, spent = rows[keep], spent[keep]
        if not len(rows):
            return
        self._change(rows, -spent)
        self.ctx.recorder.event("points_redeemed", day, rows, spent / base.points_per_yuan)

    def _expire(self, day: int) -> None:
        pop = self.pop
        rows = np.flatnonzero(pop["points"] > 0)
        points = pop["points"][rows].astype(np.int64)
        self._change(rows, -points)
        self.ctx.recorder.event("points_expired", day, rows,
                                points / self.params.base.points_per_yuan)

    def _stocks(self, day: int) -> None:
        face = self.outstanding / self.params.base.points_per_yuan
        self.ctx.recorder.stock("points_outstanding", day, face)
        self.ctx.recorder.stock("points_liability", day, face * (1.0 - self.params.base.breakage))
