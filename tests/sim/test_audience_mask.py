"""`audience_mask` is the union of its named segments, each as `docs/model.md` defines it: the
per-name rule below, written as plainly as possible, against the function (which reads each
kind's column once)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.mechanics.segments import (
    AUDIENCES,
    LIFECYCLE,
    RFM_SEGMENTS,
    SPEND_SEGMENTS,
    _lifecycle,
    _orders,
    audience_mask,
)
from sim.population import Layout, Population, Stage

COLUMNS = {"rfm_segment": np.int8, "spend_segment": np.int8, "purchase_count": np.int32,
           "last_open_day": np.int16}


def _mechanic(seed: int, columns: tuple[str, ...]) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    n = 400
    zeros = np.zeros(n, dtype=np.int8)
    pop = Population(Layout(("all",), ("everyone",), ("none", "organic")), zeros, zeros.copy(),
                     {c: np.dtype(COLUMNS[c]) for c in columns})
    pop.stage[:] = rng.choice([Stage.POTENTIAL, Stage.ALIVE, Stage.CHURNED], n)
    pop.acquired_day[:] = rng.integers(0, 60, n)
    for name, top in (("rfm_segment", len(RFM_SEGMENTS)), ("spend_segment", len(SPEND_SEGMENTS)),
                      ("purchase_count", 3), ("last_open_day", 60)):
        if name in columns:
            pop[name][:] = rng.integers(0, top, n)
    return SimpleNamespace(pop=pop, has=lambda column: column in pop.columns)


def _one(mechanic: SimpleNamespace, rows: np.ndarray, name: str, day: int) -> np.ndarray:
    pop, has = mechanic.pop, mechanic.has
    if name in RFM_SEGMENTS[1:]:
        return pop["rfm_segment"][rows] == RFM_SEGMENTS.index(name) if has("rfm_segment") \
            else np.zeros(len(rows), dtype=bool)
    if name in SPEND_SEGMENTS[1:]:
        return pop["spend_segment"][rows] == SPEND_SEGMENTS.index(name) \
            if has("spend_segment") else np.zeros(len(rows), dtype=bool)
    if name in ("buyer", "non_buyer"):
        count = _orders(mechanic, rows)
        return (count > 0) if name == "buyer" else (count == 0)
    return _lifecycle(mechanic, rows, day, 14) == LIFECYCLE.index(name)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.sampled_from(AUDIENCES), max_size=6),
       st.sets(st.sampled_from(sorted(COLUMNS))), st.integers(0, 90))
def test_audience_is_the_union_of_its_segments(seed: int, names: list[str], columns: set[str],
                                               day: int) -> None:
    mechanic = _mechanic(seed, tuple(sorted(columns)))
    rows = np.random.default_rng(seed).permutation(400)[:250]
    expected = np.zeros(len(rows), dtype=bool) if names else np.ones(len(rows), dtype=bool)
    for name in names:
        expected |= _one(mechanic, rows, name, day)
    np.testing.assert_array_equal(audience_mask(mechanic, rows, names, day), expected)


def test_an_unknown_audience_is_an_error() -> None:
    mechanic = _mechanic(0, ("rfm_segment",))
    with pytest.raises(ValueError, match="unknown audience 'none'"):
        audience_mask(mechanic, np.arange(10), ["high_value", "none"], 5)
