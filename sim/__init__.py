"""growthsim's simulation core: scenarios, the engine, mechanics and metric definitions.

`sim` never imports `experiments` (planning, analysis, CLI): the engine stays a pure library.
"""

from sim.engine import Result, collect, memory_estimate, run, simulate
from sim.errors import InputError, Problem
from sim.scenario import Scenario, load_scenario, parse_scenario, scenario_schema

__all__ = [
    "InputError",
    "Problem",
    "Result",
    "Scenario",
    "collect",
    "load_scenario",
    "memory_estimate",
    "parse_scenario",
    "run",
    "scenario_schema",
    "simulate",
]
