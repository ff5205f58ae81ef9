"""Growth accounting: where each period's buyers and revenue came from, and where they went.

The standard decomposition of Social Capital / Tribe Capital, on for every scenario. A user is
*active* in a period when they ordered at least once in it (any order: purchase, group buy,
bargain; its list value is the user's revenue). Periods are `period_days` long from day 0; only
complete periods are accounted (a short last period would look like churn). At the end of
period t every active user is exactly one of

- new: never ordered before period t;
- retained: active in period t-1 too;
- resurrected: ordered before, but not in period t-1 (an existing base, `seed_users` with
  `existing: true`, counts as having ordered before the run: its users' first orders in the
  run are resurrected buyers, not new ones);

and every user active in t-1 but not in t is churned. The first period has no period before
it, so nobody can churn in it: the quick ratios set the gains of the periods after the first
against their churn (`ga_gained`, recorded from the second period on), or a horizon's ratio
would count one period more of gains than of losses (a 60-day run read 11.5).
Revenue (R = list value of the orders):

- new / resurrected revenue: the period's revenue of new / resurrected users;
- retained revenue: min(R_t, R_t-1) of each retained user; expansion: max(R_t - R_t-1, 0) and
  contraction: max(R_t-1 - R_t, 0) of the same users;
- churned revenue: R_t-1 of churned users.

So R_t = new + retained + expansion + resurrected, R_t-1 = retained + contraction + churned,
users_t = new + retained + resurrected and users_t-1 = retained + churned. Quick ratio (users):
(new + resurrected) / churned; revenue quick ratio: (new + resurrected + expansion) /
(churned + contraction).

Cost: per day, only today's `ordered` rows touch per-user columns (a flag byte and the
period's revenue). At each period end one vectorised scan of the flag byte (1 byte per user)
finds this and last period's buyers, already sorted, and one pass over them classifies,
records and resets. Results are recorder events on the period's last day (count = users,
amount = revenue), so arms, personas, channels and the event log come free.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from sim.metric import Metric
from sim.params import StrictModel
from sim.population import Population
from sim.recorder import Recorder

# one recorder event per bucket, recorded on the last day of each complete period
EVENTS = ("ga_active", "ga_new", "ga_retained", "ga_resurrected", "ga_churned", "ga_expansion",
          "ga_contraction", "ga_gained")
COLUMNS: dict[str, np.dtype] = {
    # bit 0 / bit 1: ordered in the current even / odd period; bit 2: ordered in an earlier
    # (closed) period. The bit of period t is cleared when period t + 1 closes.
    "ga_flags": np.dtype(np.uint8),
    # list value ordered in even / odd periods: the current period's array accumulates while
    # the other holds the previous period's revenue; they swap roles at each period end
    "ga_revenue_even": np.dtype(np.float64),
    "ga_revenue_odd": np.dtype(np.float64),
}
EVER = np.uint8(4)
NEW, RETAINED, RESURRECTED, CHURNED = range(4)  # the order users are grouped in at a close



def _bucket_table(bit: int, prev_bit: int) -> np.ndarray:
    """The bucket of each flag byte (low 3 bits) of a user of this or last period."""
    def bucket(flags: int) -> int:
        if not flags & bit:
            return CHURNED
        if flags & prev_bit:
            return RETAINED
        return RESURRECTED if flags & EVER else NEW
    return np.array([bucket(f) for f in range(8)], dtype=np.uint8)


_BUCKET_OF_FLAGS = (_bucket_table(1, 2), _bucket_table(2, 1))  # closing an even / odd period

# Working memory at a period end, per user of this or last period (every user, at most): their
# rows and sort order (int64, 16 B), flag, state and bucket bytes (3 B), revenue now and before
# (16 B) and the recorder's cell index (8 B); plus a 1-byte mask over the whole market. Counted
# like a mechanic's scratch (the largest one counts): at a period end no mechanic is stepping.
SCRATCH_BYTES_PER_USER = 48


# recorded on each complete period's last day; a user is active in a period when they ordered in
# it
METRICS: tuple[Metric, ...] = (
    Metric("ga_active_users", "user-periods", "flow",
           "Buyers active in the growth-accounting period (at least one order in it), on the "
           "period's last day: new + retained + resurrected.",
           ("ga_active",), compute=lambda c: c["ga_active"], zh="活跃购买用户（周期）"),
    Metric("ga_new_users", "user-periods", "flow",
           "Active buyers of the period who had never ordered before it.",
           ("ga_new",), compute=lambda c: c["ga_new"], zh="新购买用户（周期）"),
    Metric("ga_retained_users", "user-periods", "flow",
           "Active buyers of the period who were also active in the previous period.",
           ("ga_retained",), compute=lambda c: c["ga_retained"], zh="留存购买用户（周期）"),
    Metric("ga_resurrected_users", "user-periods", "flow",
           "Active buyers of the period who had ordered before, but not in the previous period.",
           ("ga_resurrected",), compute=lambda c: c["ga_resurrected"], zh="回流购买用户（周期）"),
    Metric("ga_churned_users", "user-periods", "flow",
           "Buyers active in the previous period but not in this one (retained + churned = last "
           "period's active).",
           ("ga_churned",), compute=lambda c: c["ga_churned"],
           zh="流失购买用户（周期）", good="down"),
    Metric("ga_gained_users", "user-periods", "flow",
           "New + resurrected buyers of the period.",
           ("ga_new", "ga_resurrected"), compute=lambda c: c["ga_new"] + c["ga_resurrected"],
           zh="新增+回流购买用户"),
    Metric("ga_later_gained_users", "user-periods", "flow",
           "New + resurrected buyers of the periods after the first (the quick ratio's "
           "numerator: the first period has no period before it to lose buyers from).",
           ("ga_gained",), compute=lambda c: c["ga_gained"], zh="次周期起新增+回流购买用户"),
    Metric("ga_quick_ratio", "ratio", "ratio",
           "Growth-accounting quick ratio: (new + resurrected) / churned buyers, from the "
           "second period on; above 1 the active base grows.",
           ("ga_gained", "ga_churned"), numerator="ga_later_gained_users",
           denominator="ga_churned_users", zh="增长快速比率", headline=True, health=True),
    Metric("ga_revenue", "yuan", "flow",
           "Revenue (list value of orders) of the period's active buyers, on its last day: new + "
           "retained + expansion + resurrected revenue.",
           ("ga_active",), compute=lambda c: c["ga_active_amount"], zh="周期收入"),
    Metric("ga_new_revenue", "yuan", "flow",
           "The period's revenue from new buyers.",
           ("ga_new",), compute=lambda c: c["ga_new_amount"], zh="新增买家收入"),
    Metric("ga_retained_revenue", "yuan", "flow",
           "Revenue kept from retained buyers: sum of min(this period, last period) over them.",
           ("ga_retained",), compute=lambda c: c["ga_retained_amount"], zh="留存收入"),
    Metric("ga_expansion_revenue", "yuan", "flow",
           "Retained buyers' revenue above last period's: sum of max(this - last, 0).",
           ("ga_expansion",), compute=lambda c: c["ga_expansion_amount"], zh="扩张收入"),
    Metric("ga_contraction_revenue", "yuan", "flow",
           "Retained buyers' revenue below last period's: sum of max(last - this, 0).",
           ("ga_contraction",), compute=lambda c: c["ga_contraction_amount"], zh="收缩收入",
           good="down"),
    Metric("ga_resurrected_revenue", "yuan", "flow",
           "The period's revenue from resurrected buyers.",
           ("ga_resurrected",), compute=lambda c: c["ga_resurrected_amount"], zh="回流收入"),
    Metric("ga_churned_revenue", "yuan", "flow",
           "Last period's revenue of the buyers who churned (last period's revenue = retained + "
           "contraction + churned).",
           ("ga_churned",), compute=lambda c: c["ga_churned_amount"], zh="流失收入", good="down"),
    Metric("ga_revenue_gained", "yuan", "flow",
           "New + resurrected + expansion revenue.",
           ("ga_new", "ga_resurrected", "ga_expansion"), compute=lambda c: c["ga_new_amount"] +
           c["ga_resurrected_amount"] + c["ga_expansion_amount"], zh="新增收入"),
    Metric("ga_later_revenue_gained", "yuan", "flow",
           "New + resurrected + expansion revenue of the periods after the first (the revenue "
           "quick ratio's numerator; the first period has no expansion either).",
           ("ga_gained", "ga_expansion"), compute=lambda c: c["ga_gained_amount"] +
           c["ga_expansion_amount"], zh="次周期起新增收入"),
    Metric("ga_revenue_lost", "yuan", "flow",
           "Churned + contraction revenue.",
           ("ga_churned", "ga_contraction"), compute=lambda c: c["ga_churned_amount"] +
           c["ga_contraction_amount"], zh="流失收入合计", good="down"),
    Metric("ga_revenue_quick_ratio", "ratio", "ratio",
           "Revenue quick ratio: (new + resurrected + expansion) / (churned + contraction), "
           "from the second period on.",
           ("ga_gained", "ga_expansion", "ga_churned", "ga_contraction"),
           numerator="ga_later_revenue_gained", denominator="ga_revenue_lost",
           zh="收入快速比率"),
)


class GrowthAccountingParams(StrictModel):
    period_days: int = Field(
        30, ge=1, le=365,
        description="Length of a growth-accounting period in days (30: monthly, the usual "
        "cadence of Tribe Capital's growth accounting; 7 for weekly). ASSUMPTION: the "
        "team's reporting cadence; 7-30 days.")


class GrowthAccounting:
    """Per-user state and the period-end classification (called by the engine each day)."""

    def __init__(self, params: GrowthAccountingParams, pop: Population, recorder: Recorder) -> None:
        self.period_days = params.period_days
        self.pop, self.recorder = pop, recorder
        self.flags = pop["ga_flags"]
        self.revenue_by_parity = (pop["ga_revenue_even"], pop["ga_revenue_odd"])

    def record_day(self, day: int) -> None:
        """Fold today's orders into the period; classify at the period's last day."""
        if self.pop.base_channel_ids is not None:  # an existing base bought before the run
            joined = self.pop.rows_today("acquired")
            base = joined[np.isin(self.pop.channel[joined], self.pop.base_channel_ids)]
            self.flags[base] |= EVER
        rows = self.pop.rows_today("ordered")
        if len(rows):
            values = self.pop.values_today("ordered")
            if len(values) != len(rows):
                raise ValueError("every `ordered` row needs its order value (pop.emit_values)")
            period = day // self.period_days
            np.add.at(self.revenue_by_parity[period % 2], rows, values)
            bit = np.uint8(1 << (period % 2))
            self.flags[rows] = self.flags[rows] | bit  # a repeated row writes the same byte
        if (day + 1) % self.period_days == 0:
            self._close(day, day // self.period_days)

    def _close(self, day: int, period: int) -> None:
        bit, prev_bit = np.uint8(1 << (period % 2)), np.uint8(1 << (1 - period % 2))
        current, last = self.revenue_by_parity[period % 2], self.revenue_by_parity[1 - period % 2]
        # sorted: memory in order (a bool mask: NumPy's nonzero of bytes is 6x slower)
        touched = np.flatnonzero((self.flags & (bit | prev_bit)) != 0)
        flags = self.flags[touched]
        bucket = _BUCKET_OF_FLAGS[period % 2][flags & 7]
        order = np.argsort(bucket, kind="stable")  # buckets become slices, rows stay sorted
        rows = touched[order]
        sizes = [int(np.count_nonzero(bucket == b)) for b in range(4)]
        ends = np.cumsum(sizes)
        new, retained, resurrected, churned = (slice(e - n, e) for n, e in zip(sizes, ends,
                                                                                strict=True))
        now, before = current[rows], last[rows]
        active = slice(0, ends[RESURRECTED])
        rec = self.recorder
        rec.event("ga_active", day, rows[active], now[active])
        rec.event("ga_new", day, rows[new], now[new])
        kept = np.minimum(now[retained], before[retained])
        rec.event("ga_retained", day, rows[retained], kept)
        rec.event("ga_resurrected", day, rows[resurrected], now[resurrected])
        rec.event("ga_churned", day, rows[churned], before[churned])
        if period > 0:  # gains that churn can be set against (see the module's docstring)
            rec.event("ga_gained", day, np.concatenate([rows[new], rows[resurrected]]),
                      np.concatenate([now[new], now[resurrected]]))
        stayed, grew, shrank = rows[retained], now[retained] - kept, before[retained] - kept
        up, down = grew > 0, shrank > 0
        rec.event("ga_expansion", day, stayed[up], grew[up])
        rec.event("ga_contraction", day, stayed[down], shrank[down])
        # last period's bit and revenue are cleared: they hold the next period
        flags = flags[order] & ~prev_bit
        flags[active] |= EVER
        self.flags[rows] = flags
        last[rows] = 0.0
