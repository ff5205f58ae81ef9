"""Segmentation: lifecycle and spend segments and RFM scores, recomputed on a schedule.

Every buyer's recency (days since the last order), frequency (orders) and monetary value (yuan
spent) are kept from the orders of each day. Every `every_days` days (a SimPy process marks the
recomputation due) each buyer gets a score 1..bins on each axis from the buyers' quantiles
(quintiles by default; ties get the lower score, so the many one-order buyers score F = 1),
and a named segment, written to the int8 column `rfm_segment` that campaigns target:

- high_value: recent and frequent/big (R >= bins-1 and (F+M)/2 >= bins-1);
- potential: recent, not (yet) high value (R > bins//2);
- at_risk: not recent but used to buy a lot (R <= bins//2 and (F+M)/2 > bins//2);
- lost: not recent and never bought much.

Spend segments (`spend_segment`): high = the top `high_spend_share` of buyers by spend, low =
the other buyers. Users who never ordered are in none of these (code 0). Like a real CRM, the
scores are the company's view: a buyer who has silently dropped out still counts (and drifts
to lost). Lifecycle segments (new, active, dormant, churned) are read live from the activity
mechanic's last open (see `audience_mask`). The segment stocks are the sizes after the latest
recomputation; `finish()` returns the RFM transition counts between recomputations.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from sim.calendar import period_ends
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import Metric, ReportSection
from sim.population import Stage, add_count
from sim.quantiles import quantiles

RFM_SEGMENTS = ("none", "high_value", "potential", "at_risk", "lost")  # rfm_segment codes
SPEND_SEGMENTS = ("none", "low_spend", "high_spend")  # spend_segment codes
SEGMENTED = frozenset(RFM_SEGMENTS[1:] + SPEND_SEGMENTS[1:])  # audiences this mechanic computes
LIFECYCLE = ("new", "active", "dormant", "churned")
AUDIENCES = (*RFM_SEGMENTS[1:], *SPEND_SEGMENTS[1:], *LIFECYCLE, "buyer", "non_buyer")
Audience = Literal["high_value", "potential", "at_risk", "lost", "low_spend", "high_spend",
                   "new", "active", "dormant", "churned", "buyer", "non_buyer"]
NEW_DAYS = 7


# Columns `audience_mask` reads when present: a mechanic that targets audiences declares them in
# its `uses_if_any`.
AUDIENCE_COLUMNS = ("rfm_segment", "spend_segment", "purchase_count", "rfm_orders",
                    "last_open_day", "rfm_last_order")


class SegmentsParams(MechanicParams):
    type: Literal["segments"] = "segments"
    fixed_fields = frozenset({  # one value for the whole market
        "bins", "every_days", "high_spend_share"})
    every_days: int = Field(7, ge=1, le=365,
                            description="Days between RFM recomputations (weekly by default).")
    bins: int = Field(5, ge=3, le=5, description="Score bins per axis: 5 = quintiles, the "
                      "standard (domain-facts rfm_bins, range 3-5).")
    high_spend_share: float = Field(0.2, gt=0.0, lt=1.0,
                                    description="Share of buyers in the high-spend segment.")


SEGMENT_ZH = {"high_value": "高价值用户", "potential": "潜力用户", "at_risk": "流失风险用户",
              "lost": "已流失用户", "high_spend": "高消费用户", "low_spend": "低消费用户"}
METRICS: tuple[Metric, ...] = tuple(
    Metric(f"seg_{s}_users", "users", "stock", f"Buyers in the RFM segment {s} at the latest "
           "recomputation.", (f"seg_{s}_users",), compute=lambda c, s=s: c[f"seg_{s}_users"],
           zh=zh, group="Segment sizes", good="down" if s in ("at_risk", "lost") else "up")
    for s, zh in SEGMENT_ZH.items())


class Segments(Mechanic[SegmentsParams]):
    stage = StageOrder.LOYALTY
    metrics = METRICS
    report = ReportSection("operations")
    reads_if_any = ("ordered",)
    uses_if_any = AUDIENCE_COLUMNS
    substage = 1  # after activity: today's opens and orders are known
    stocks = ("seg_high_value_users", "seg_potential_users", "seg_at_risk_users",
              "seg_lost_users", "seg_high_spend_users", "seg_low_spend_users")

    @classmethod
    def columns(cls, params: SegmentsParams) -> dict[str, np.dtype]:
        return {"rfm_last_order": np.dtype(np.int16), "rfm_orders": np.dtype(np.int16),
                "rfm_spend": np.dtype(np.float32), "rfm_segment": np.dtype(np.int8),
                "rfm_score": np.dtype(np.int16), "spend_segment": np.dtype(np.int8)}

    def setup(self) -> None:
        self.pop["rfm_last_order"].fill(-1)
        n = len(RFM_SEGMENTS)
        self.transitions = np.zeros((n, n))
        self.recomputations = 0
        self.sizes = np.zeros((len(self.stocks), self.ctx.layout.n_cells))

    def step(self, day: int) -> None:
        """Recompute at the end of days every_days - 1, 2 * every_days - 1, ..., after the
        day's orders."""
        self._remember_orders(day)
        if period_ends(day, self.params.base.every_days):
            self.recompute(day)
        self._stocks(day)

    def idle(self, day: int) -> None:
        """Orders are still remembered while switched off; only the scoring pauses."""
        self._remember_orders(day)
        self._stocks(day)

    def _remember_orders(self, day: int) -> None:
        pop = self.pop
        rows, values = self.today("ordered"), self.today_values("ordered")
        if not len(rows):
            return
        pop["rfm_last_order"][rows] = day
        add_count(pop["rfm_orders"], rows)
        np.add.at(pop["rfm_spend"], rows, values.astype(np.float32))

    def recompute(self, day: int) -> None:
        """Score every buyer as of the end of `day` and count segment transitions."""
        pop, bins = self.pop, self.params.base.bins
        buyers = np.flatnonzero(pop["rfm_orders"] > 0)
        if not len(buyers):
            return
        last = pop["rfm_last_order"][buyers].astype(np.int64)  # recency: later is better
        frequency = pop["rfm_orders"][buyers].astype(np.int64)
        spend = pop["rfm_spend"][buyers]
        share = self.params.base.high_spend_share
        edges = quantiles(spend, np.array([*(np.arange(1, bins) / bins), 1.0 - share]))
        key = _count_score(last, bins).astype(np.int16)  # R << 6 | F << 3 | M, each 1..bins
        key <<= 3
        key |= _count_score(frequency, bins)
        key <<= 3
        key |= _score_above(spend, edges[:-1])
        codes, scores = _segment_tables(bins)
        code = codes[key]
        old = pop["rfm_segment"][buyers]
        n = len(RFM_SEGMENTS)
        self.transitions += np.bincount(old.astype(np.int64) * n + code,
                                        minlength=n * n).reshape(n, n)
        self.recomputations += 1
        pop["rfm_segment"][buyers] = code
        pop["rfm_score"][buyers] = scores[key]
        spend_code = np.where(spend > edges[-1], 2, 1).astype(np.int8)
        pop["spend_segment"][buyers] = spend_code
        cells, n_cells = pop.cell[buyers].astype(np.int64), self.ctx.layout.n_cells
        per_code = np.bincount(cells * n + code, minlength=n_cells * n).reshape(n_cells, n)
        per_spend = np.bincount(cells * 3 + spend_code, minlength=n_cells * 3).reshape(n_cells, 3)
        self.sizes = np.vstack([per_code[:, 1:].T, per_spend[:, 2], per_spend[:, 1]]).astype(float)

    def _stocks(self, day: int) -> None:
        for name, sizes in zip(self.stocks, self.sizes, strict=True):
            self.ctx.recorder.stock(name, day, sizes)

    def finish(self) -> dict[str, np.ndarray]:
        """RFM transitions: rows = segment at the previous recomputation, columns = the next,
        both in RFM_SEGMENTS order (none = not yet a buyer)."""
        return {"rfm_transitions": self.transitions.copy(),
                "recomputations": np.array([float(self.recomputations)])}


def _segment_tables(bins: int) -> tuple[np.ndarray, np.ndarray]:
    """The segment code and the score (R * 100 + F * 10 + M) of every score triple, indexed by
    R << 6 | F << 3 | M: one gather per buyer instead of a dozen array passes (the rules are
    applied here to the 512 triples instead of to every buyer)."""
    r, f, m = (axis.ravel() for axis in np.meshgrid(*[np.arange(8)] * 3, indexing="ij"))
    fm = (f + m) / 2.0
    recent = r > bins // 2
    code = np.where(recent, np.where((r >= bins - 1) & (fm >= bins - 1), 1, 2),
                    np.where(fm > bins // 2, 3, 4)).astype(np.int8)
    return code, (r * 100 + f * 10 + m).astype(np.int16)


def _score_above(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """1 + how many of the few `edges` lie below each value: 1 + searchsorted(edges, values,
    "left"), in one comparison pass per edge, not a binary search per value (float32 values
    compare to the float64 edges exactly, as searchsorted's cast would)."""
    score = np.ones(len(values), dtype=np.int8)  # 1..bins (<= 5)
    for edge in edges:  # np.float64 scalars: the comparison is made in float64
        score += values > edge
    return score


def _count_score(values: np.ndarray, bins: int) -> np.ndarray:
    """1..bins from the quantiles of non-negative integer `values` (higher is better), as
    np.quantile's linear edges would give, in O(n) with a histogram: a value equal to an edge
    gets the lower score, so a tied mass is never spread over several scores."""
    counts = np.bincount(values)
    edges = _histogram_quantiles(counts, np.arange(1, bins) / bins)
    table = (1 + np.searchsorted(edges, np.arange(len(counts)), side="left")).astype(np.int8)
    return table[values]


def _histogram_quantiles(counts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """np.quantile (linear interpolation) of the sample whose value histogram is `counts`."""
    n = int(counts.sum())
    cum = np.cumsum(counts)
    position = q * (n - 1)  # 0-based order statistic, between lo and lo + 1
    lo = np.floor(position).astype(np.int64)
    low = np.searchsorted(cum, lo, side="right")
    high = np.searchsorted(cum, np.minimum(lo + 1, n - 1), side="right")
    return low + (position - lo) * (high - low)


def audience_mask(mechanic: Mechanic, rows: np.ndarray, names: list[str] | tuple[str, ...],
                  day: int, dormant_after_days: int = 14) -> np.ndarray:
    """Which rows belong to any of the named segments today (all rows if `names` is empty).

    RFM and spend segments are those of the latest recomputation (the columns); lifecycle
    segments are live: new = acquired in the last 7 days, churned = churned for good, dormant =
    no open (no order, without the activity mechanic) for `dormant_after_days`, active = the
    other alive users."""
    if not names:
        return np.ones(len(rows), dtype=bool)
    mask = np.zeros(len(rows), dtype=bool)
    codes: dict[str, np.ndarray | None] = {}  # each kind's codes, read once per call
    for name in dict.fromkeys(names):
        if name not in _AUDIENCE_CODES:
            raise ValueError(f"unknown audience {name!r}; one of {', '.join(AUDIENCES)}")
        kind, code = _AUDIENCE_CODES[name]
        if kind not in codes:
            codes[kind] = _audience_codes(mechanic, kind, rows, day, dormant_after_days)
        if codes[kind] is not None:  # None: the scenario keeps no such column
            mask |= codes[kind] == code
    return mask


# audience -> (the kind of code it is read from, its code there)
_AUDIENCE_CODES: dict[str, tuple[str, int]] = {
    **{name: ("rfm_segment", code) for code, name in enumerate(RFM_SEGMENTS) if code},
    **{name: ("spend_segment", code) for code, name in enumerate(SPEND_SEGMENTS) if code},
    **{name: ("lifecycle", code) for code, name in enumerate(LIFECYCLE)},
    "buyer": ("buyer", 1), "non_buyer": ("buyer", 0),
}


def _audience_codes(mechanic: Mechanic, kind: str, rows: np.ndarray, day: int,
                    dormant_after_days: int) -> np.ndarray | None:
    """The rows' codes of one kind of audience (a segment column, lifecycle, buyer or not)."""
    if kind == "lifecycle":
        return _lifecycle(mechanic, rows, day, dormant_after_days)
    if kind == "buyer":
        return _orders(mechanic, rows) > 0
    return mechanic.pop[kind][rows] if mechanic.has(kind) else None


def _orders(mechanic: Mechanic, rows: np.ndarray) -> np.ndarray:
    for col in ("purchase_count", "rfm_orders"):
        if mechanic.has(col):
            return mechanic.pop[col][rows]
    return np.zeros(len(rows), dtype=np.int32)


def _lifecycle(mechanic: Mechanic, rows: np.ndarray, day: int, dormant_after: int
               ) -> np.ndarray:
    """Lifecycle code (LIFECYCLE index) of each row; -1 for users not yet acquired."""
    pop = mechanic.pop
    if mechanic.has("last_open_day"):
        last = pop["last_open_day"][rows].astype(np.int64)
    elif mechanic.has("rfm_last_order"):
        last = np.maximum(pop["rfm_last_order"][rows], pop.acquired_day[rows]).astype(np.int64)
    else:
        last = pop.acquired_day[rows].astype(np.int64)
    stage = pop.stage[rows]
    code = np.where(day - last >= dormant_after, 2, 1)
    code = np.where(day - pop.acquired_day[rows] < NEW_DAYS, 0, code)
    code = np.where(stage == Stage.CHURNED, 3, code)
    return np.where(stage == Stage.POTENTIAL, -1, code)


def segments_needed(types: set[str], audiences: list[str] | tuple[str, ...], where: tuple,
                    by_name: bool = False) -> list[tuple[tuple, str]]:
    """A campaign that targets RFM or spend segments needs this mechanic in the scenario: one
    located problem per such audience (at its list index, or under its name)."""
    if "segments" in types:
        return []
    return [((*where, audience if by_name else j),
             f"segment {audience!r} needs a `segments` mechanic")
            for j, audience in enumerate(audiences) if audience in SEGMENTED]
