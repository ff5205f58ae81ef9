"""What a supplier and a carrier are described by: the lead time of a replenishment order
(fixed or right-skewed, domain-facts §6) with its draw, and shipping (cost, transit, lateness,
defects). The inventory mechanic reads them; they are plain models so other supply mechanics
can share them."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from sim.params import StrictModel


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
