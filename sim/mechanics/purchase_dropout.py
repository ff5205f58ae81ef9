"""Purchases with dropout: the BG/NBD story in daily steps.

Each user draws once a purchase rate lambda ~ Gamma(shape r, rate alpha) per `time_unit_days`
and a dropout probability ~ Beta(a, b). While alive, the user buys each day with probability
min(1, lambda / time_unit_days) (link `clip`, the reference model) or 1 - exp(-lambda /
time_unit_days) (link `poisson`); right after a purchase the user churns for good with the
dropout probability. Order values are Gamma(shape, scale) for everyone, or Gamma-Gamma (p, q,
v): each user's rate nu ~ Gamma(q, rate v), each order ~ Gamma(p, rate nu).

With `purchase_on_acquisition: true` the acquisition is itself the first order and no dropout
follows it (Fader, Hardie & Lee 2005), so fitted BG/NBD and Gamma-Gamma parameters from
standard customer-lifetime tools can be used as they are.

Daily Bernoulli trials are drawn as geometric gaps to the next purchase, so a day costs one
comparison over the schedule plus work on that day's buyers only.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.params import StrictModel
from sim.population import Stage

NEVER = np.iinfo(np.int32).max


class PurchaseRate(StrictModel):
    r: float = Field(gt=0.0, description="Gamma shape of the purchase rate (heterogeneity).")
    alpha: float = Field(gt=0.0, description="Gamma rate of the purchase rate, per time unit.")
    time_unit_days: float = Field(
        1.0, gt=0.0, description="Days in the time unit of r and alpha (7 for weekly fits)."
    )
    link: Literal["clip", "poisson"] = Field(
        "clip", description="Daily probability from the daily rate: min(1, x) or 1 - exp(-x)."
    )


class Dropout(StrictModel):
    a: float = Field(gt=0.0, description="Beta a of the churn probability after a purchase.")
    b: float = Field(gt=0.0, description="Beta b of the churn probability after a purchase.")


class GammaOrderValue(StrictModel):
    model: Literal["gamma"] = "gamma"
    shape: float = Field(gt=0.0, description="Gamma shape of every order's value.")
    scale: float = Field(gt=0.0, description="Gamma scale of every order's value, yuan.")


class GammaGammaOrderValue(StrictModel):
    model: Literal["gamma_gamma"] = "gamma_gamma"
    p: float = Field(gt=0.0, description="Gamma shape of each order given the user's rate.")
    q: float = Field(gt=0.0, description="Gamma shape of the users' spend rates.")
    v: float = Field(gt=0.0, description="Gamma rate of the users' spend rates (yuan scale).")


OrderValue = Annotated[GammaOrderValue | GammaGammaOrderValue, Field(discriminator="model")]


class PurchaseDropoutParams(MechanicParams):
    type: Literal["purchase_dropout"] = "purchase_dropout"
    purchase_rate: PurchaseRate
    dropout: Dropout
    order_value: OrderValue
    purchase_on_acquisition: bool = Field(
        False, description="The acquisition is itself an order (BG/NBD convention)."
    )


class PurchaseDropout(Mechanic[PurchaseDropoutParams]):
    stage = StageOrder.PURCHASE
    events = ("order", "first_order")

    @classmethod
    def columns(cls, params: PurchaseDropoutParams) -> dict[str, np.dtype]:
        cols = {
            "purchase_prob": np.dtype(np.float64),
            "dropout_prob": np.dtype(np.float64),
            "next_purchase_day": np.dtype(np.int32),
            "purchase_count": np.dtype(np.int32),
        }
        if params.order_value.model == "gamma_gamma":
            cols["spend_rate"] = np.dtype(np.float64)
        return cols

    @classmethod
    def scratch_bytes_per_user(cls, params: PurchaseDropoutParams) -> int:
        return 3 * 8  # float64 temporaries while drawing the per-user attributes

    def setup(self) -> None:
        pop, arm, n = self.pop, self.pop.group, self.pop.size
        rate = self.params.for_rows
        unit = rate("purchase_rate.time_unit_days", arm)
        daily_rate = self.rng.gamma(
            rate("purchase_rate.r", arm), 1.0 / (rate("purchase_rate.alpha", arm) * unit), size=n
        )
        if self.params.base.purchase_rate.link == "clip":
            np.minimum(daily_rate, 1.0, out=pop["purchase_prob"])
        else:
            pop["purchase_prob"][:] = -np.expm1(-daily_rate)
        del daily_rate
        pop["dropout_prob"][:] = self.rng.beta(rate("dropout.a", arm), rate("dropout.b", arm), n)
        if "spend_rate" in pop.columns:
            pop["spend_rate"][:] = self.rng.gamma(
                rate("order_value.q", arm), 1.0 / rate("order_value.v", arm), size=n
            )
        pop["next_purchase_day"].fill(NEVER)

    def step(self, day: int) -> None:
        joined = self.pop.rows_today("acquired")
        if len(joined) and self.params.base.purchase_on_acquisition:
            self._buy(joined, day, dropout=False)
        elif len(joined):  # a gap of 1 means "today": the join day is the first day of trials
            self.pop["next_purchase_day"][joined] = day - 1 + self._gap(joined)
        due = self._due(day)
        if len(due):
            self._buy(due, day, dropout=True)

    def idle(self, day: int) -> None:
        """No purchases while switched off; gaps are memoryless, so due users just redraw."""
        joined = self.pop.rows_today("acquired")
        self.pop["next_purchase_day"][joined] = day + self._gap(joined)
        due = self._due(day)
        self.pop["next_purchase_day"][due] = day + self._gap(due)

    def _due(self, day: int) -> np.ndarray:
        due = np.flatnonzero(self.pop["next_purchase_day"] == day)
        return due[self.pop.stage[due] == Stage.ALIVE]

    def _buy(self, rows: np.ndarray, day: int, *, dropout: bool) -> None:
        pop, rec = self.pop, self.ctx.recorder
        amounts = self._order_values(rows)
        first = pop["purchase_count"][rows] == 0
        pop["purchase_count"][rows] += 1
        rec.event("order", day, rows, amounts)
        rec.event("first_order", day, rows[first], amounts[first])
        if dropout:
            leaving = self.rng.random(len(rows)) < pop["dropout_prob"][rows]
            gone, rows = rows[leaving], rows[~leaving]
            pop["next_purchase_day"][gone] = NEVER
            pop.churn(gone)
        pop["next_purchase_day"][rows] = day + self._gap(rows)

    def _order_values(self, rows: np.ndarray) -> np.ndarray:
        value, arm = self.params.base.order_value, self.pop.group[rows]
        if value.model == "gamma":
            return self.rng.gamma(
                self.params.for_rows("order_value.shape", arm),
                self.params.for_rows("order_value.scale", arm),
                size=len(rows),
            )
        shape = self.params.for_rows("order_value.p", arm)
        return self.rng.gamma(shape, 1.0 / self.pop["spend_rate"][rows], size=len(rows))

    def _gap(self, rows: np.ndarray) -> np.ndarray:
        """Days until the next purchase: Geometric(prob) >= 1, capped past the horizon."""
        return geometric_gap(self.rng, self.pop["purchase_prob"][rows], self.ctx.days)


def geometric_gap(rng: np.random.Generator, prob: np.ndarray, horizon: int) -> np.ndarray:
    """Inverse-transform Geometric draws that stay finite for prob 0 and exact for prob 1."""
    u = 1.0 - rng.random(len(prob))  # in (0, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.floor(np.log(u) / np.log1p(-prob)) + 1.0
    gap = np.where(prob > 0.0, gap, horizon + 1.0)
    return np.minimum(gap, horizon + 1.0).astype(np.int32)
