"""The mechanic registry: `type:` name -> (parameter model, mechanic class).

Adding a mechanic is one new module in this package and one line in `MODULES`. A module holds
one mechanic: one `MechanicParams` subclass, whose `type` literal is the name scenarios use,
and one `Mechanic` subclass. Order matters where it shows: the metric catalogue and the
report's groups follow it (the day's order is the mechanics' `stage` and `substage`).
"""

from __future__ import annotations

import importlib
import inspect

from sim.mechanics.base import Mechanic, MechanicParams

MODULES: tuple[str, ...] = (
    "seed_users",
    "observed_arrivals",
    "bass_acquisition",
    "paid_ads",
    "kol_posts",
    "funnel",
    "new_user_gift",
    "purchase_dropout",
    "referral",
    "activity",
    "group_buy",
    "bargain",
    "distributors",
    "segments",
    "automations",
    "membership_tiers",
    "points",
    "paid_membership",
    "community",
    "touchpoints",
    "recommendations",
    "live_stream",
    "early_access",
    "catalogue",
    "inventory",
)


def _mechanic_of(module: str) -> tuple[str, tuple[type[MechanicParams], type[Mechanic]]]:
    """The (type name, (parameters, class)) a mechanic module defines."""
    mod = importlib.import_module(f"sim.mechanics.{module}")
    own = [obj for _, obj in inspect.getmembers(mod, inspect.isclass)
           if obj.__module__ == mod.__name__]
    params = [c for c in own if issubclass(c, MechanicParams)]
    mechanics = [c for c in own if issubclass(c, Mechanic)]
    if len(params) != 1 or len(mechanics) != 1:
        raise TypeError(f"sim/mechanics/{module}.py must define one MechanicParams and one "
                        f"Mechanic subclass, not {len(params)} and {len(mechanics)}")
    return params[0].model_fields["type"].default, (params[0], mechanics[0])


REGISTRY: dict[str, tuple[type[MechanicParams], type[Mechanic]]] = dict(
    _mechanic_of(module) for module in MODULES)

__all__ = ["MODULES", "REGISTRY", "Mechanic", "MechanicParams"]
