"""A new-user gift pack (新人专享礼包): money off the first order, to lift first-order conversion.

Every user who joins while the gift runs (optionally only through some channels) receives it,
except an existing base (`seed_users` with `existing: true`): they are not new users (新客).
The gift multiplies that user's first-order probability by (1 + lift) (on top of any other
boost, e.g. recommendations' cold-start lift: first_order_boost becomes (1 + boost)(1 + lift)
- 1) and is redeemed on the first order as a discount of up to its value; its cost is booked
when redeemed (the ledger event `gift`). It works through two columns the purchase mechanic
reads.

The lift grows with the gift's value and saturates (a Hill curve of exponent 1, the shape
media-mix models give response to spend, Jin et al. 2017): lift(v) = first_order_lift *
s(v) / s(lift_at_value), s(v) = v / (v + half_lift_value). So `first_order_lift` is the lift of
a gift of `lift_at_value` yuan, a 0-yuan gift lifts nothing, and a sweep over `value` trades a
larger lift against a larger cost (before, the lift ignored the value and every search over it
answered 0 yuan).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder


class NewUserGiftParams(MechanicParams):
    type: Literal["new_user_gift"] = "new_user_gift"
    value: float = Field(10.0, ge=0.0, description="Yuan off the first order (default 10, "
                         "ASSUMPTION: domain-facts new_user_gift_value, range 5-30).")
    first_order_lift: float = Field(
        0.3, ge=0.0, description="Relative lift of the first-order probability from a gift of "
        "`lift_at_value` yuan (ASSUMPTION).")
    lift_at_value: float = Field(
        10.0, gt=0.0, description="The gift value, yuan, at which `first_order_lift` holds "
        "(default 10: the default gift).")
    half_lift_value: float = Field(
        10.0, gt=0.0, description="Gift value, yuan, at which the lift is half its saturation "
        "level: lift(v) = first_order_lift * s(v) / s(lift_at_value), s(v) = v / (v + this) "
        "(ASSUMPTION: diminishing returns from the 5-30 yuan range of domain-facts).")
    channels: list[str] = Field(default_factory=list,
                                description="Only users from these channels; empty = all "
                                "(an existing base never gets the gift).")

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        """A gift for an existing base's channel would never be given: said, not ignored."""
        from sim.planning import layout_of

        base = layout_of(scenario).base_channels
        return [(("mechanics", name, "channels", i), f"channel {channel!r} is an existing base "
                 "(seed_users with existing: true): its users are not new users and get no "
                 "new-user gift; remove it")
                for i, channel in enumerate(self.channels) if channel in base]


class NewUserGift(Mechanic[NewUserGiftParams]):
    # users who join while the gift is off never get it: the cursor moves on in idle()
    stage = StageOrder.FUNNEL
    substage = 1  # after the funnel has registered today's visitors

    @classmethod
    def columns(cls, params: NewUserGiftParams) -> dict[str, np.dtype]:
        return {"gift_value": np.dtype(np.float32), "first_order_boost": np.dtype(np.float32)}

    def setup(self) -> None:
        layout = self.ctx.layout
        names = self.params.base.channels or layout.channels[1:]
        targeted = [layout.channel_id(c) for c in names
                    if c in layout.channels and c not in layout.base_channels]
        # None: every user's channel is targeted (no list, no existing base), no filter needed
        self.channels = None if len(targeted) == len(layout.channels) - 1 else np.array(
            targeted, dtype=np.int8)

    def step(self, day: int) -> None:
        rows = self.pop.new_users(self.name)
        if self.channels is not None:
            rows = rows[np.isin(self.pop.channel[rows], self.channels)]
        group = self.pop.group[rows]
        value = self.params.for_rows("value", group)
        self.pop["gift_value"][rows] = value
        # multiplies any boost already there (recommendations' lift), so both count exactly
        boost = self.pop["first_order_boost"]
        boost[rows] = (1.0 + boost[rows]) * (1.0 + self._lift(value, group)) - 1.0

    def _lift(self, value: np.ndarray | float, group: np.ndarray) -> np.ndarray | float:
        """The first-order lift of a gift of `value` yuan (the module docstring's curve;
        exactly `first_order_lift` at `lift_at_value`)."""
        at, half = (self.params.for_rows(name, group) for name in ("lift_at_value",
                                                                   "half_lift_value"))
        relative = np.divide(np.divide(value, np.add(value, half)), np.divide(at, np.add(at,
                                                                                      half)))
        return self.params.for_rows("first_order_lift", group) * relative

    def idle(self, day: int) -> None:
        self.pop.new_users(self.name)
