"""LastDayIndex answers `flatnonzero(column == day)` without the scan, bit for bit, while the
column is set to `day` only on day `day` (as `last_open_day` is), through compactions and the
days it forgets."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.calendar import LastDayIndex


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), keep=st.integers(1, 20), share=st.floats(0.01, 0.6))
def test_lookups_equal_the_scan(seed: int, keep: int, share: float) -> None:
    rng = np.random.default_rng(seed)
    column = np.full(500, -1, dtype=np.int16)
    index = LastDayIndex(column, keep)
    for day in range(60):
        if rng.random() < 0.9:  # some days nobody is written (a mechanic switched off)
            rows = np.flatnonzero(rng.random(len(column)) < share)
            rng.shuffle(rows)  # written in any order
            column[rows] = day
            index.record(day, rows)
        for back in range(0, keep + 1):
            asked = day - back
            if asked >= -1:
                assert np.array_equal(index.rows_with(asked), np.flatnonzero(column == asked))
