"""Base pydantic model for every part of a scenario: strict, no unknown keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Probability = Field(ge=0.0, le=1.0)


class StrictModel(BaseModel):
    """Unknown keys are errors, values are not silently coerced (a typo must not pass) and
    every float, in every model, is finite: YAML's .inf and .nan pass range checks such as
    `ge=0` (or fail them with a misleading message) and break the run much later."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Window(StrictModel):
    """Days (0-based, inclusive) on which a mechanic is switched on, e.g. a campaign."""

    first_day: int = Field(0, ge=0, description="First day the mechanic acts (0 = launch day).")
    last_day: int | None = Field(
        None, ge=0, description="Last day it acts, inclusive; omit to act until the horizon."
    )
