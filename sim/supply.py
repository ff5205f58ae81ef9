"""What a supplier and a carrier are described by: the lead time of a replenishment order
(fixed or right-skewed, domain-facts §6) with its draw, the quantities a replenishment policy
orders, and shipping (cost, transit, lateness, defects). The inventory mechanic reads them;
they are plain models so other supply mechanics can share them."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, field_validator

from sim.params import StrictModel

if TYPE_CHECKING:
    from sim.mechanics.inventory import InventoryParams


class LeadTime(StrictModel):
    distribution: Literal["fixed", "gamma", "lognormal"] = Field(
        "fixed", description="Supplier lead time: fixed, or right-skewed random (domain-facts "
        "§6: lead times are right-skewed).")
    mean_days: float = Field(7.0, description="Mean supplier lead time, days, > 0 (ASSUMPTION "
                             "3-30: no Chinese supplier figures were found, §6).")
    cv: float = Field(0.3, ge=0.0, le=3.0, description="Coefficient of variation of a random "
                      "lead time (ASSUMPTION 0.1-0.6).")

    @field_validator("mean_days")
    @classmethod
    def _positive(cls, days: float) -> float:
        if not days > 0:
            raise ValueError(f"a lead time of {days:g} days is impossible; give a positive "
                             "number of days (e.g. 7)")
        return days

    def draw(self, rng: np.random.Generator) -> int:
        """One order's lead time in whole days (at least 1)."""
        if self.distribution == "fixed" or self.cv == 0:
            days = self.mean_days
        elif self.distribution == "gamma":
            days = rng.gamma(1.0 / self.cv**2, self.mean_days * self.cv**2)
        else:
            sigma2 = math.log1p(self.cv**2)
            days = rng.lognormal(math.log(self.mean_days) - sigma2 / 2, math.sqrt(sigma2))
        return max(1, round(days))


class Shipping(StrictModel):
    logistics_cost_per_order: float = Field(
        6.0, ge=0.0, description="Yuan per shipped order: parcel and packing (ASSUMPTION 3-12 "
        "for domestic express).")
    mean_days: float = Field(2.5, ge=1.0, description="Mean transit days, 1 + Poisson "
                             "(ASSUMPTION 1.5-5).")
    promised_days: int = Field(3, ge=1, description="An order is late when waiting for stock "
                               "plus transit takes longer than this.")
    late_dropout_lift: float = Field(0.2, ge=0.0, description="Relative rise of the dropout "
                                     "probability per late order (ASSUMPTION 0-0.5).")
    defect_rate: float = Field(0.02, ge=0.0, le=1.0, description="Share of shipped orders with "
                               "an after-sales complaint (ASSUMPTION 0.005-0.05).")
    defect_dropout_lift: float = Field(0.5, ge=0.0, description="Relative rise of the dropout "
                                       "probability per defective order (ASSUMPTION 0-1).")


def order_quantities(policy: InventoryParams, mean: np.ndarray, sigma: np.ndarray,
                     position: np.ndarray) -> np.ndarray:
    """Units to order per SKU group at a review, from the inventory position (on hand + on
    order - back-orders) and the daily demand's mean and SD: (s, Q) orders enough multiples of
    Q to lift the position above s; (R, S) orders up to S. Safety stock z sigma sqrt(cover)."""
    lead = policy.lead_time.mean_days
    groups = len(position)
    if policy.policy == "reorder_point":
        safety = policy.safety_stock if policy.safety_stock is not None else \
            policy.service_z * sigma * math.sqrt(lead)
        s = np.full(groups, policy.reorder_point) if policy.reorder_point is not None else \
            mean * lead + safety
        q = np.full(groups, policy.order_quantity) if policy.order_quantity is not None else \
            mean * policy.order_cover_days
        q = np.ceil(q)
        due = (position <= s) & (q > 0)
        return np.where(due, q * (np.floor((s - position) / np.maximum(q, 1)) + 1), 0)
    horizon = policy.review_days + lead
    safety = policy.safety_stock if policy.safety_stock is not None else \
        policy.service_z * sigma * math.sqrt(horizon)
    target = np.full(groups, policy.order_up_to) if policy.order_up_to is not None else \
        mean * horizon + safety
    return np.maximum(np.ceil(target - position), 0)
