"""The guide-table search is np.searchsorted, bit for bit: repeated entries, an infinite tail,
keys before, between, on and past the entries, both sides."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.sorted_search import SortedTable

ENTRIES = st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0, 250.0, np.inf]), min_size=1, max_size=60)


@settings(max_examples=120, deadline=None)
@given(steps=ENTRIES, start=st.sampled_from([-2.0, 0.0, 7.5]), seed=st.integers(0, 2**32 - 1),
       side=st.sampled_from(["left", "right"]), per_entry=st.sampled_from([1, 2, 4, 32]))
def test_search_is_searchsorted(steps: list[float], start: float, seed: int, side: str,
                                per_entry: int) -> None:
    table = start + np.cumsum(steps)  # sorted, with repeats (steps of 0) and maybe inf
    finite = table[np.isfinite(table)]
    rng = np.random.default_rng(seed)
    span = (finite[-1] - finite[0] + 1.0) if len(finite) else 1.0
    base = finite[0] if len(finite) else 0.0
    keys = np.concatenate([base - 1.0 + rng.random(300) * (span + 2.0), finite,
                           np.nextafter(finite, -np.inf), np.nextafter(finite, np.inf),
                           [np.inf, -np.inf, -1e300, 1e300]])
    found = SortedTable(table, side, per_entry).search(keys)
    assert np.array_equal(found, np.searchsorted(table, keys, side=side))
