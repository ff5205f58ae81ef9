"""`np.quantile` (its default, linear method) of many non-negative float32 values, bit for bit,
without partitioning them all.

The RFM recompute asks for five quantiles of every buyer's spend each week; `np.quantile`
partitions the whole sample around twelve order statistics (3.7-5.7 ms a week at 1M users,
the largest single line of a retention run). A linear quantile only reads the two order
statistics around its virtual index (n - 1) q, and for non-negative floats the top 16 bits of
the IEEE pattern (sign, exponent, 7 mantissa bits) are in value order: one histogram of them
says which few buckets hold the wanted order statistics, and only those values are sorted.
The interpolation itself stays NumPy's: `np.quantile` of the (lower, upper) pairs at their
fractional positions, whose (2 - 1) q' is q' exactly. Anything else (float64, negative, -0.0,
inf, NaN, small samples, buckets too full) goes to `np.quantile` itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BUCKETS = 1 << 16  # distinct top-16-bit patterns of a float32
NOT_FINITE_OR_NEGATIVE = 0x7F80  # top bits of +inf; NaN, sign-bit patterns and -0.0 are above
SMALL = 4096  # below this np.quantile's partition is as cheap as the histogram


def quantiles(values: np.ndarray, q: Sequence[float] | np.ndarray,
              small: int = SMALL) -> np.ndarray:
    """`np.quantile(values, q)`, bit for bit and of its dtype (tests/sim); the fast path takes a
    1-D float32 array and q as float64 values in [0, 1] (a 1-D array, or a list of floats)."""
    if not _fast_inputs(values, q, small):
        return np.quantile(values, q)
    q = np.asarray(q, dtype=np.float64)
    n = len(values)
    keys = values.view(np.uint32) >> np.uint32(16)
    if keys.max() >= NOT_FINITE_OR_NEGATIVE:
        return np.quantile(values, q)
    virtual = (n - 1) * q  # np.quantile's linear virtual index
    lower = np.floor(virtual).astype(np.intp)
    upper = np.minimum(lower + 1, n - 1)  # q = 1: both neighbours are the maximum
    stats = _order_statistics(values, keys, np.concatenate([lower, upper]))
    if stats is None:
        return np.quantile(values, q)
    pairs = stats.reshape(2, len(q))  # column i: the two neighbours of quantile i
    gamma = virtual - lower  # the weight np.quantile gives them
    return np.quantile(pairs, gamma, axis=0).diagonal().copy()


def _fast_inputs(values: object, q: object, small: int) -> bool:
    """Whether np.quantile would answer in float64 for these inputs and the histogram pays:
    other q types (a scalar, ints, float32) keep float32 results in NumPy 2."""
    if not (isinstance(values, np.ndarray) and values.dtype == np.float32 and values.ndim == 1
            and len(values) >= max(small, 2)):
        return False
    if isinstance(q, np.ndarray):
        fine = q.dtype == np.float64 and q.ndim == 1 and len(q) > 0
    else:
        fine = isinstance(q, list | tuple) and len(q) > 0 and all(isinstance(x, float)
                                                                   for x in q)
    return fine and bool(((np.asarray(q) >= 0) & (np.asarray(q) <= 1)).all())


def _order_statistics(values: np.ndarray, keys: np.ndarray,
                      ranks: np.ndarray) -> np.ndarray | None:
    """The values of the given 0-based ranks in sorted order, or None when the buckets that
    hold them hold more than a quarter of the sample (then a partition is as cheap)."""
    counts = np.bincount(keys, minlength=BUCKETS)
    ends = np.cumsum(counts)
    bucket = np.searchsorted(ends, ranks, side="right")
    wanted = np.zeros(BUCKETS, dtype=bool)
    wanted[bucket] = True
    candidates = values[wanted[keys]]
    if len(candidates) > len(values) // 4:
        return None
    candidates.sort()  # the wanted buckets one after another, each in order
    held = np.flatnonzero(wanted)
    starts_in_candidates = np.cumsum(counts[held]) - counts[held]
    where = np.searchsorted(held, bucket)
    return candidates[starts_in_candidates[where] + ranks - (ends[bucket] - counts[bucket])]
