"""growthsim's simulation core: scenarios, the engine, mechanics and metric definitions.

`sim` never imports `experiments` (planning, analysis, CLI): the engine stays a pure library.
"""

from sim.aggregation import Result, collect
from sim.engine import run, simulate
from sim.errors import InputError, Problem
from sim.planning import memory_estimate
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
