"""How long a test runs: users enrolled after d days (new visitors, or a population that
saturates), the days a sample size needs, rounded to whole days or weeks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from experiments.planning.errors import PowerInputError

ReturningModel = Literal["new", "saturating"]


@dataclass(frozen=True)
class Traffic:
    """Daily eligible traffic and the share of it enrolled into the experiment.

    returning="new": every enrolled visit is a new user, U(d) = allocation x daily x d.
    returning="saturating": visitors are drawn from a population P of users, so unique users
    saturate, U(d) = allocation x P x (1 - exp(-d x daily / P)).
    """

    daily_traffic: float
    allocation: float = 1.0
    returning: ReturningModel = "new"
    population: float | None = None
    round_weeks: bool = False


def validate_traffic(traffic: Traffic) -> None:
    if not traffic.daily_traffic > 0:
        raise PowerInputError("daily-traffic", f"must be > 0, got {traffic.daily_traffic:g}")
    if not 0 < traffic.allocation <= 1:
        raise PowerInputError("allocation", f"a share in (0, 1], got {traffic.allocation:g}")
    if traffic.returning == "saturating":
        if traffic.population is None or not traffic.population > 0:
            raise PowerInputError("population", "the saturating model needs --population > 0")
    elif traffic.returning != "new":
        raise PowerInputError("returning", "use new or saturating")
    elif traffic.population is not None:
        raise PowerInputError("population", "only used with --returning saturating")


def users_after(days: float, traffic: Traffic) -> float:
    """Unique enrolled users after ``days`` days under the traffic model."""
    if traffic.returning == "new":
        return traffic.allocation * traffic.daily_traffic * days
    assert traffic.population is not None
    reach = 1 - math.exp(-days * traffic.daily_traffic / traffic.population)
    return traffic.allocation * traffic.population * reach


def days_needed(total_users: float, traffic: Traffic) -> float:
    """Inverse of users_after; raises when the population can never supply enough users."""
    if traffic.returning == "new":
        return total_users / (traffic.allocation * traffic.daily_traffic)
    assert traffic.population is not None
    reachable = traffic.allocation * traffic.population
    if total_users >= reachable:
        raise PowerInputError(
            "population",
            f"the design needs {total_users:,.0f} users but only {reachable:,.0f} can ever be "
            "enrolled (allocation x population); raise --allocation or the MDE",
        )
    return -traffic.population / traffic.daily_traffic * math.log(1 - total_users / reachable)


def rounded_days(days: float, round_weeks: bool) -> int:
    whole = math.ceil(days - 1e-9)
    return 7 * math.ceil(whole / 7) if round_weeks else whole
