"""The settings of the purchase mechanic (sim/mechanics/purchase_dropout.py) that are not its
own top-level fields: the purchase rate, the dropout, the order value, the first order, the
checkout and its reminder, and the spend coupon (满减). Apart so the mechanic's module holds the
mechanic; scenarios and the schema see the same fields."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from sim.params import StrictModel


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


class FirstOrder(StrictModel):
    within_30_days: float = Field(
        0.20, ge=0.0, le=1.0,
        description="Probability a new user orders within 30 days of registering (ASSUMPTION: "
        "domain-facts first_order_within_30d_given_register, range 0.05-0.40).")


class Reminder(StrictModel):
    consent_prob: float = Field(
        0.3, ge=0.0, le=1.0,
        description="Share of cart abandoners who grant a one-time subscription on the tap "
        "(ASSUMPTION, 0.1-0.6); one consent allows one message (WeChat rule).")
    recovery_rate: float = Field(
        0.08, ge=0.0, le=1.0,
        description="Share of reminded carts that are paid (Moosend 10.7%, Soocial 3.6%).")
    coupon: float = Field(3.0, ge=0.0, description="Yuan off a recovered order.")


class Checkout(StrictModel):
    cart_abandonment: float = Field(
        0.70, ge=0.0, le=1.0,
        description="Share of checkouts left unpaid (Baymard 69.8-70.2%; mobile about 0.86).")
    reminder: Reminder | None = Field(
        None, description="Unpaid-order reminder through a subscription message; omit for none.")


class SpendCoupon(StrictModel):
    threshold: float = Field(gt=0.0, description="Spend at least this many yuan (满 X).")
    discount: float = Field(gt=0.0, description="... and get this many yuan off (减 Y).")
    redemption: float = Field(
        0.10, ge=0.0, le=1.0,
        description="Share of eligible orders that use the coupon (e-commerce ~0.1, BLOG).")
    conversion_lift: float = Field(
        0.0, ge=0.0, description="Relative lift of the purchase probability while it runs "
        "(a persona's coupon sensitivity: set it per persona).")
    top_up_band: float = Field(
        0.2, ge=0.0, le=1.0,
        description="Orders within this fraction below the threshold may be topped up to it.")
    top_up_prob: float = Field(0.3, ge=0.0, le=1.0,
                               description="Probability such an order is topped up.")
