"""Personalised recommendations (千人千面): a conversion lift that grows with what the recommender
knows about a user, limited for users it knows nothing about (cold start).

A user's history is h = orders + floor(opens / `opens_per_order`) (opens counted from the day
the mechanic starts; without `opens_per_order`, orders only). The relative lift of the daily
purchase probability is
    lift(h) = max(cold_lift, max_lift x min(1, h / warm_up_orders)),
so a user without history gets the popularity-based `cold_lift` and the lift rises linearly to
`max_lift` once the history reaches `warm_up_orders`. Users who refuse personalisation (PIPL
Art. 24 requires the option, domain-facts §3.7; `non_personalized_share` of users) keep the
cold lift for good.

The lift works through the purchase mechanic's columns: `purchase_prob` (the repeat-purchase
probability) is multiplied by (1 + new) / (1 + old) whenever a user's lift changes (capped at
1), and the first-order rate multiplier `first_order_boost` starts at the cold lift (a new-user
gift, when present, replaces it with its own boost). A buyer whose lift changed after today's
order has the next checkout redrawn at once with the new probability (gaps are geometric, so a
redraw from today is exact); a user whose lift changed through opens only gets it from the next
checkout draw.
Cost: a recommender subscription of `monthly_cost` yuan plus `cost_per_user_month` per alive
user (alive at the start of the billing day), booked every 30 days from day 0 (channel event
`recommender_cost`). Users reaching full
personalisation are counted as `rec_warmed`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.mechanics.purchase_dropout import geometric_gap
from sim.population import Stage

NEVER = np.iinfo(np.int32).max
MONTH = 30


class RecommendationsParams(MechanicParams):
    type: Literal["recommendations"] = "recommendations"
    max_lift: float = Field(0.15, ge=0.0, le=2.0, description="Relative lift of the daily "
                            "purchase probability for a fully known user (ASSUMPTION 0.03-0.30: "
                            "recommender lifts of a few % to ~30% are reported; no mini-program "
                            "figure in domain-facts).")
    warm_up_orders: float = Field(3.0, gt=0.0, description="History at which the lift is full "
                                  "(ASSUMPTION 1-10 orders).")
    cold_lift: float = Field(0.02, ge=0.0, le=2.0, description="Lift for users without history "
                             "(popularity-based recommendations; ASSUMPTION 0-0.05).")
    opens_per_order: int | None = Field(None, ge=1, le=1000, description="Opens that teach "
                                        "the recommender as much as one order (ASSUMPTION 5-50); "
                                        "omit for orders only.")
    non_personalized_share: float = Field(0.05, ge=0.0, le=1.0, description="Share of users "
                                          "who choose the non-personalised option PIPL Art. 24 "
                                          "requires (ASSUMPTION 0.01-0.2); they keep cold_lift.")
    monthly_cost: float = Field(0.0, ge=0.0, description="Yuan per 30 days for a recommender "
                                "subscription (a fixed cost; ASSUMPTION 0-20,000).")
    cost_per_user_month: float = Field(0.0, ge=0.0, description="Yuan per alive user per 30 "
                                       "days (usage-priced engines; ASSUMPTION 0-0.05).")

    @model_validator(mode="after")
    def _cold_below_full(self) -> RecommendationsParams:
        if self.cold_lift > self.max_lift:
            raise ValueError(f"cold_lift ({self.cold_lift:g}) must not exceed max_lift "
                             f"({self.max_lift:g}): users without history cannot gain more "
                             "than fully known ones")
        return self


def lift(history: np.ndarray, max_lift: float | np.ndarray, warm_up: float | np.ndarray,
         cold: float | np.ndarray) -> np.ndarray:
    """Relative purchase lift for a history: max(cold, max_lift x min(1, h / warm_up))."""
    return np.maximum(cold, max_lift * np.minimum(1.0, np.asarray(history) / warm_up))


class Recommendations(Mechanic[RecommendationsParams]):
    stage = StageOrder.LOYALTY
    substage = 1  # after activity (today's opens), before automations and tiers
    events = ("rec_warmed",)
    channel_events = ("recommender_cost",)

    @classmethod
    def columns(cls, params: RecommendationsParams) -> dict[str, np.dtype]:
        cols = {"rec_lift": np.dtype(np.float32), "first_order_boost": np.dtype(np.float32)}
        if params.opens_per_order is not None:
            cols["rec_opens"] = np.dtype(np.int16)
        return cols

    def setup(self) -> None:
        pop, get = self.pop, self.params.for_rows
        cold = np.broadcast_to(get("cold_lift", pop.group), (pop.size,))
        refused = self.rng.random(pop.size) < get("non_personalized_share", pop.group)
        # users whose lift can no longer change (refusing, or at the full lift) are skipped
        self.settled = refused | (np.broadcast_to(get("max_lift", pop.group), (pop.size,))
                                  <= cold)
        pop["rec_lift"][:] = cold
        pop["first_order_boost"][:] = (1.0 + pop["first_order_boost"]) * (1.0 + cold) - 1.0
        if "purchase_prob" in pop.columns:
            np.minimum(pop["purchase_prob"] * (1.0 + cold), 1.0, out=pop["purchase_prob"])
        self.ctx.env.process(self._bill())

    def _bill(self) -> Iterator:
        """The subscription, paid at the start of every 30 days."""
        while True:
            now = int(self.ctx.env.now)
            if now < self.ctx.days:
                alive = float(self.pop.count(Stage.ALIVE).sum())
                base = self.params.base
                fee = base.monthly_cost + base.cost_per_user_month * alive
                self.ctx.recorder.channel_event("recommender_cost", now, 0, fee)
            yield self.ctx.env.timeout(MONTH)

    def step(self, day: int) -> None:
        pop, base = self.pop, self.params.base
        buyers = pop.rows_today("ordered")
        parts = [buyers[~self.settled[buyers]]]
        if base.opens_per_order is not None:
            opened = pop.rows_today("opened")  # distinct: one open a day (activity)
            opens = pop["rec_opens"][opened] + 1  # one a day at most: an int16 cannot overflow
            pop["rec_opens"][opened] = opens
            step = opened[opens % base.opens_per_order == 0]  # history grows by one order
            parts.append(step[~self.settled[step]])
        rows = pop.distinct(np.concatenate(parts).astype(np.int32))
        changed = self._relift(rows, day)
        if not len(changed) or "next_purchase_day" not in pop.columns:
            return
        again = changed[(pop.stage[changed] == Stage.ALIVE) & (pop["purchase_count"][changed] > 0)
                        & (pop["next_purchase_day"][changed] > day)
                        & (pop["next_purchase_day"][changed] != NEVER)]
        again = again[np.isin(again, buyers)]
        pop["next_purchase_day"][again] = day + geometric_gap(
            self.rng, pop["purchase_prob"][again], self.ctx.days)

    def _relift(self, rows: np.ndarray, day: int) -> np.ndarray:
        """New lifts from the users' histories; returns the rows whose lift changed."""
        pop, get = self.pop, self.params.for_rows
        group = pop.group[rows]
        history = pop["purchase_count"][rows].astype(np.float64) if "purchase_count" in \
            pop.columns else np.zeros(len(rows))
        if "rec_opens" in pop.columns:
            history = history + pop["rec_opens"][rows] // self.params.base.opens_per_order
        cold = get("cold_lift", group)
        new = lift(history, get("max_lift", group), get("warm_up_orders", group), cold)
        new = new.astype(np.float32)  # settled (refusing or fully known) users never get here
        old = pop["rec_lift"][rows]
        moved = new != old
        rows, new, old = rows[moved], new[moved], old[moved]
        if not len(rows):
            return rows
        ratio = (1.0 + new.astype(np.float64)) / (1.0 + old)
        if "purchase_prob" in pop.columns:
            pop["purchase_prob"][rows] = np.minimum(pop["purchase_prob"][rows] * ratio, 1.0)
        pop["first_order_boost"][rows] = (1.0 + pop["first_order_boost"][rows]) * ratio - 1.0
        pop["rec_lift"][rows] = new
        full = np.broadcast_to(get("max_lift", pop.group[rows]), rows.shape).astype(np.float32)
        warmed = rows[(new >= full) & (old < full)]
        self.settled[warmed] = True
        self.ctx.recorder.event("rec_warmed", day, warmed)
        return rows
