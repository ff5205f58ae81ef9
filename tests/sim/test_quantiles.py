"""`sim.quantiles.quantiles` is `np.quantile` bit for bit, through its histogram path and every
fallback (the RFM spend edges depend on it)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import quantiles as module
from sim.quantiles import quantiles

SHAPES = {
    "spend-like": lambda rng, n: rng.gamma(0.8, 120.0, n),
    "few distinct values": lambda rng, n: rng.integers(0, 20, n) * 10.0,
    "subnormal": lambda rng, n: rng.random(n) * 1e-40,
    "wide range": lambda rng, n: rng.lognormal(3.0, 4.0, n),
    "with zeros": lambda rng, n: np.where(rng.random(n) < 0.3, 0.0, rng.gamma(2.0, 5.0, n)),
}


def _same(values: np.ndarray, q: np.ndarray) -> None:
    got, expected = quantiles(values, q, small=1), np.quantile(values, q)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SHAPES)), st.integers(1, 6000), st.integers(0, 2**32 - 1),
       st.lists(st.floats(0.0, 1.0), min_size=1, max_size=7))
def test_equals_numpy_quantile(shape: str, n: int, seed: int, q: list[float]) -> None:
    rng = np.random.default_rng(seed)
    _same(SHAPES[shape](rng, n).astype(np.float32), np.array(q))


@pytest.mark.parametrize("q", [[0.0], [1.0], [0.0, 1.0, 0.5], [0.2, 0.4, 0.6, 0.8, 0.9]])
def test_ends_and_the_rfm_quantiles_on_a_large_sample(q: list[float]) -> None:
    values = np.random.default_rng(7).gamma(0.8, 120.0, 300_000).astype(np.float32)
    _same(values, np.array(q))


def test_the_histogram_path_is_taken_and_its_fallbacks_answer_too(monkeypatch) -> None:
    values = np.random.default_rng(3).gamma(0.8, 120.0, 50_000).astype(np.float32)
    picked = []
    real = module._order_statistics
    monkeypatch.setattr(module, "_order_statistics",
                        lambda *a: picked.append(1) or real(*a))
    _same(values, np.array([0.2, 0.9]))
    assert picked  # the fast path ran, not np.quantile
    for odd in (-1.0, -0.0, np.inf, np.nan):  # sign bit, infinity, NaN: np.quantile itself
        spoiled = values.copy()
        spoiled[123] = odd
        with np.errstate(invalid="ignore"):  # inf - inf inside np.quantile's interpolation
            _same(spoiled, np.array([0.0, 0.3, 1.0]))
    _same(np.full(10_000, 2.5, dtype=np.float32), np.array([0.5]))  # one bucket holds all
    _same(values.astype(np.float64), np.array([0.5]))  # float64: np.quantile itself


@pytest.mark.parametrize("q", [0.5, [0, 1], [0.3, 0.9], np.array([0.3, 0.9], dtype=np.float32),
                               np.array(0.5), (0.25, 0.75), np.array([[0.1], [0.6]])])
def test_every_kind_of_q_gives_numpy_s_answer_and_dtype(q: object) -> None:
    values = np.random.default_rng(5).gamma(0.8, 120.0, 20_000).astype(np.float32)
    got, expected = quantiles(values, q, small=1), np.quantile(values, q)
    assert np.asarray(got).dtype == np.asarray(expected).dtype
    np.testing.assert_array_equal(got, expected)


def test_other_values_go_to_numpy() -> None:
    listed = [3.0, 1.0, 2.0, 5.0]
    assert quantiles(listed, [0.5], small=1) == np.quantile(listed, [0.5])
    big_endian = np.random.default_rng(1).random(5000).astype(">f4")
    np.testing.assert_array_equal(quantiles(big_endian, [0.5], small=1),
                                  np.quantile(big_endian, [0.5]))
