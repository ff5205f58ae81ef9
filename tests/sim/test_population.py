"""Population helpers the mechanics rely on for exactness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.population import Layout, Population, Stage


def population(size: int) -> Population:
    layout = Layout(("all",), ("everyone",), ("none", "organic"))
    zeros = np.zeros(size, dtype=np.int8)
    return Population(layout, zeros, zeros.copy(), {})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 49), max_size=200))
def test_distinct_keeps_first_occurrences_in_order(values: list[int]) -> None:
    pop = population(50)
    rows = np.array(values, dtype=np.int32)
    expected = list(dict.fromkeys(values))
    assert pop.distinct(rows).tolist() == expected
    assert pop.distinct(rows).tolist() == expected  # the scratch is left clean


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 49), max_size=100), st.sets(st.integers(0, 49)))
def test_distinct_then_equals_distinct_of_both(values: list[int], more: set[int]) -> None:
    """Activity's opens: today's joiners and buyers (repeats allowed), then the due users."""
    pop = population(50)
    rows, tail = np.array(values, dtype=np.int32), np.array(sorted(more), dtype=np.int32)
    expected = list(dict.fromkeys([*values, *sorted(more)]))
    assert pop.distinct_then(rows, tail).tolist() == expected
    assert pop.distinct(np.concatenate([rows, tail])).tolist() == expected  # scratch clean


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 49), max_size=100), st.lists(st.integers(0, 49), max_size=30))
def test_among_is_isin_and_first_seen_marks_first_occurrences(values: list[int],
                                                               others: list[int]) -> None:
    pop = population(50)
    rows, other = np.array(values, dtype=np.int64), np.array(others, dtype=np.int32)
    assert np.array_equal(pop.among(rows, other), np.isin(rows, other))
    assert np.array_equal(pop.among(rows, other), np.isin(rows, other))  # scratch clean
    first = [i == values.index(v) for i, v in enumerate(values)]
    assert pop.first_seen(rows).tolist() == first
    assert pop.distinct(rows).tolist() == list(dict.fromkeys(values))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 59), max_size=20), max_size=5), st.integers(0, 2**32 - 1),
       st.sampled_from([("a",), ("a", "b")]))
def test_draws_see_every_acquisition_in_every_group(batches: list[list[int]], seed: int,
                                                    personas: tuple[str, ...]) -> None:
    """Draws of potential users follow the stage column through acquisitions in one group (its
    rows are their own pool positions) or two (personas): all that are left, or a few of them,
    never anyone acquired."""
    layout = Layout(("all",), personas, ("none", "organic"))
    persona = np.random.default_rng(seed).integers(0, len(personas), 60).astype(np.int8)
    pop = Population(layout, np.zeros(60, dtype=np.int8), persona, {})
    rng = np.random.default_rng(seed)
    for batch in batches:  # the engine acquires distinct rows (a repeat would count twice)
        pop.acquire(np.array(list(dict.fromkeys(batch)), dtype=np.int32), 0, 1)
        for group in range(len(personas)):
            potential = np.flatnonzero((pop.group == group) & (pop.stage == Stage.POTENTIAL))
            assert pop.draw_potential(group, 60, rng).tolist() == potential.tolist()
            few = pop.draw_potential(group, len(potential) // 5, rng)
            assert len(few) == len(potential) // 5 and np.isin(few, potential).all()


def test_draw_potential_is_a_uniform_subset_of_potential_users() -> None:
    """Each potential user is drawn with probability k / potential (chi-square over users)."""
    from scipy import stats

    pop = population(40)
    pop.acquire(np.arange(10, dtype=np.int32), 0, 1)  # users 0..9 are taken
    rng = np.random.default_rng(5)
    hits = np.zeros(40)
    draws, k = 4000, 7
    for _ in range(draws):
        rows = pop.draw_potential(0, k, rng)
        assert len(rows) == k and len(set(rows.tolist())) == k
        assert (pop.stage[rows] == Stage.POTENTIAL).all()
        hits[rows] += 1
    assert hits[:10].sum() == 0
    expected = draws * k / 30
    chi2 = ((hits[10:] - expected) ** 2 / expected).sum()
    assert chi2 < stats.chi2.ppf(0.999, 29)


def test_among_leaves_the_scratch_clean_on_bad_rows() -> None:
    pop = population(10)
    with pytest.raises(IndexError):
        pop.among(np.array([1, 12]), np.array([3]))
    assert pop.among(np.array([3]), np.array([5])).tolist() == [False]  # 3 is not marked
