"""Dated windows are SimPy processes that switch mechanics on the right days; memory is
estimated before allocation and a scenario that cannot fit is refused with the estimate."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from sim.engine import simulate
from sim.errors import InputError
from sim.memory import BASE_BYTES
from sim.planning import memory_estimate
from tests.conftest import daily, reference_dict, scenario_from


def test_window_switches_acquisition_on_exactly_its_days() -> None:
    data = reference_dict(days=10, market={"size": 100_000})
    data["mechanics"]["acquisition"].update(p=0.2, q=0.0, window={"first_day": 3, "last_day": 5})
    c = daily(scenario_from(data))
    active_days = np.flatnonzero(c["new_users"].to_numpy() > 0)
    assert active_days.tolist() == [3, 4, 5]


def test_purchases_pause_outside_their_window_and_resume() -> None:
    data = reference_dict(days=12, market={"size": 50_000})
    data["mechanics"]["acquisition"].update(p=1.0, q=0.0)
    data["mechanics"]["purchase"]["window"] = {"first_day": 2, "last_day": 7}
    c = daily(scenario_from(data))["purchases"].to_numpy()
    assert np.flatnonzero(c > 0).tolist() == [2, 3, 4, 5, 6, 7]
    # memoryless gaps: the first active day sees the full daily rate, not a backlog burst
    assert c[2] < 1.2 * c[3]


def test_memory_estimate_bounds_what_is_allocated() -> None:
    data = reference_dict(days=365, market={"size": 300_000})
    scenario = scenario_from(data)
    tracemalloc.start()
    try:
        simulate(scenario)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = memory_estimate(scenario) - BASE_BYTES
    # The estimate follows measured resident memory (benchmarks/bench_memory.py, within 5% of
    # the peak at three sizes); tracemalloc also counts zero-filled pages never touched and a
    # set-up temporary, so the traced peak may pass it by a little.
    assert 0.8 * estimate < peak <= 1.1 * estimate


def test_scenario_too_big_is_refused_with_the_estimate(monkeypatch) -> None:
    monkeypatch.setenv("GROWTHSIM_MEMORY_LIMIT_MB", "200")
    data = reference_dict(market={"size": 5_000_000})
    with pytest.raises(InputError) as caught:
        simulate(scenario_from(data))
    (problem,) = caught.value.problems
    assert problem.path == "market.size"
    assert "5,000,000 users need about" in problem.message
    assert "only 200.0 MB is available" in problem.message
    assert problem.message.endswith("not even an empty market fits: free some memory")


def test_a_scenario_too_big_is_told_a_size_that_fits(monkeypatch) -> None:
    """The size named fits, and ten per cent more would not (two figures kept)."""
    from sim.planning import check_memory, memory_estimate

    monkeypatch.setenv("GROWTHSIM_MEMORY_LIMIT_MB", "600")
    with pytest.raises(InputError) as caught:
        check_memory(scenario_from(reference_dict(market={"size": 5_000_000})))
    fits = int(caught.value.problems[0].message.split("(about ")[1].split(" fit)")[0]
               .replace(",", ""))
    limit = 600 * 2**20
    assert memory_estimate(scenario_from(reference_dict(market={"size": fits}))) <= limit
    assert memory_estimate(scenario_from(reference_dict(market={"size": int(fits * 1.1)}))) \
        > limit
