"""Observed arrivals: replay the number of new users seen each day instead of simulating them.

When a model is fitted to real metrics, acquisition is data, not a parameter: the users who
arrived are known, so purchases, churn and the rest are fitted given exactly those arrivals.
Counts are inline (`counts` from day 0, or `by_channel`), so a resolved scenario stays
self-contained; a list shorter than the horizon means no arrivals after it (a closed cohort).
Arrivals skip the funnel (they are observed customers) and are drawn uniformly from the
potential users of each group in proportion to what is left (as seed users are).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from sim.errors import InputError, Problem
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder

Count = Annotated[int, Field(ge=0)]


class ObservedArrivalsParams(MechanicParams):
    type: Literal["observed_arrivals"] = "observed_arrivals"
    counts: list[Count] = Field(
        default_factory=list,
        description="New users per day from day 0 (one channel, `channel`); zeros after the "
        "list ends.")
    by_channel: dict[str, list[Count]] = Field(
        default_factory=dict,
        description="New users per day by channel name, when the data say where users came "
        "from; use instead of `counts`.")
    channel: str = Field("observed", pattern=r"^[a-z][a-z0-9_]*$",
                         description="Channel `counts` are credited to.")

    @model_validator(mode="after")
    def _one_source(self) -> ObservedArrivalsParams:
        if self.counts and self.by_channel:
            raise ValueError("give either counts or by_channel, not both")
        for name in self.by_channel:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"channel name {name!r} must be lower-case letters, digits "
                                 "and _, starting with a letter")
        return self

    def series(self) -> dict[str, list[int]]:
        """Channel name -> daily counts."""
        return dict(self.by_channel) if self.by_channel else {self.channel: list(self.counts)}

    @property
    def total(self) -> int:
        return sum(sum(c) for c in self.series().values())

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        return arrival_problems(self, name, scenario.market.size, scenario.days)


def arrival_problems(params: ObservedArrivalsParams, name: str, market_size: int,
                     days: int) -> list[tuple[tuple, str]]:
    """Cross-field checks the parameter model cannot do alone: (path, message) pairs."""
    problems: list[tuple[tuple, str]] = []
    field = "by_channel" if params.by_channel else "counts"
    if params.total > market_size:
        problems.append((("mechanics", name, field),
                         f"{params.total:,} arrivals in total but market.size is "
                         f"{market_size:,}; raise market.size to at least {params.total}"))
    late = [(ch, len(c)) for ch, c in params.series().items() if sum(c[days:]) > 0]
    for channel, length in late:
        path = ("mechanics", name, field) + ((channel,) if params.by_channel else ())
        problems.append((path, f"{length} days of counts with arrivals after the horizon "
                         f"({days} days); they would be ignored: raise days or cut the list"))
    return problems


class ObservedArrivals(Mechanic[ObservedArrivalsParams]):
    stage = StageOrder.ACQUISITION

    @classmethod
    def channels(cls, params: ObservedArrivalsParams) -> list[str]:
        return list(params.series())

    def setup(self) -> None:
        params = self.params.base
        problems = arrival_problems(params, self.name, self.ctx.market_size, self.ctx.days)
        if problems:
            raise InputError([Problem("<scenario>", None, ".".join(map(str, path)), message)
                              for path, message in problems])
        self.series = [(self.ctx.layout.channel_id(ch), np.asarray(c, dtype=np.int64))
                       for ch, c in params.series().items()]

    def step(self, day: int) -> None:
        for channel, counts in self.series:
            if day >= len(counts) or counts[day] == 0:
                continue
            potential = np.array([self.pop.potential_of_group(g)
                                  for g in range(self.pop.n_groups)], dtype=np.int64)
            want = int(min(counts[day], potential.sum()))
            if want == 0:
                continue
            per_group = self.rng.multivariate_hypergeometric(potential, want)
            for group, k in enumerate(per_group):
                if k:
                    rows = self.pop.draw_potential(group, int(k), self.rng)
                    self.ctx.recorder.event("visit", day, rows, channel=channel)
                    self.pop.acquire(rows, day, channel)
