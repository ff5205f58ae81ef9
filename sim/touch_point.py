"""An owned-channel touch point as a scenario describes it (official-account articles, Channels
lives, WeCom service, Xiaohongshu posts): its audience, reach, schedule, conversion, costs and
where users are handed over next. The touchpoints mechanic runs a list of them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.params import StrictModel


class Handover(StrictModel):
    to: str = Field(description="Name of the touch point the user moves on to.")
    prob: float = Field(ge=0.0, le=1.0, description="Chance each user moves on (ASSUMPTION).")
    after: Literal["touch", "order"] = Field(
        "touch", description="touch: each touched user (a visitor, for potential audiences); "
        "order: each buyer whose last touch was this touch point (e.g. live buyers added to "
        "WeCom service).")


class TouchPoint(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Touch point name; for a "
                      "potential audience also the acquisition channel new users are credited to.")
    audience: Literal["potential", "users", "members"] = Field(
        description="potential: people not yet users (acquisition into the private domain); "
        "users: alive users (re-engagement); members: only users handed over to it (e.g. WeCom "
        "contacts).")
    personas: list[str] = Field(default_factory=list, description="potential audience only: "
                                "personas reached; empty = all.")
    reach: float = Field(0.0, ge=0.0, description="People reached per session (official "
                         "account article reads, live viewers, Douyin/Xiaohongshu views); "
                         "ASSUMPTION, scale to the account.")
    reach_share: float = Field(0.0, ge=0.0, le=1.0, description="Share of the audience reached "
                               "per session, added to reach (official account open rate 0.01-"
                               "0.05, WeCom message read 0.2-0.5: ASSUMPTION).")
    first_day: int = Field(0, ge=0, description="Day of the first session.")
    every_days: int = Field(1, ge=1, le=365, description="Days between sessions (1 = daily, 7 "
                            "= a weekly live). A members touch point sends at most one message "
                            "per member per session (WeCom: 1 mass message a day, §3.4).")
    visit_prob: float = Field(0.0, ge=0.0, le=1.0, description="potential only: chance a "
                              "reached person visits the mini-program (ASSUMPTION 0.005-0.05).")
    open_prob: float = Field(0.0, ge=0.0, le=1.0, description="users/members: chance a touched "
                             "user opens the mini-program today (needs activity).")
    order_prob: float = Field(0.0, ge=0.0, le=1.0, description="users/members: chance a touched "
                              "user checks out tomorrow (live viewer -> buyer 0.10, range "
                              "0.02-0.30, §8 live_viewer_to_buyer [VENDOR/ASSUMPTION]; "
                              "needs purchase_dropout).")
    cpm: float = Field(0.0, ge=0.0, description="Yuan per 1,000 people reached (Douyin/"
                       "Xiaohongshu feeds: no verified price, ASSUMPTION 20-60).")
    cost_per_session: float = Field(0.0, ge=0.0, description="Yuan per session (an article, a "
                                    "live: KOL post rates §1.4 for external content).")
    seats: int = Field(0, ge=0, description="Staff seats (WeCom service accounts).")
    seat_cost_per_day: float = Field(0.0, ge=0.0, description="Yuan per seat per day (licence "
                                     "and staff time; ASSUMPTION 100-300).")
    next: list[Handover] = Field(default_factory=list, description="Where users go next.")

    @model_validator(mode="after")
    def _conversion_fits_audience(self) -> TouchPoint:
        if self.audience == "potential" and (self.open_prob or self.order_prob):
            raise ValueError("a potential audience has no users to open or order: use "
                             "visit_prob (open_prob and order_prob are for users/members)")
        if self.audience != "potential" and self.visit_prob:
            raise ValueError(f"visit_prob is for potential audiences; a {self.audience} "
                             "touch point converts with open_prob / order_prob")
        if self.audience != "potential" and self.personas:
            raise ValueError("personas target potential audiences only")
        return self
