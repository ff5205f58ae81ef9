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
    """`np.quantile(values, q)`, bit for bit and of its dtype (tests/sim). The histogram path
    takes a 1-D float32 array and a 1-D float64 array of q in [0, 1] (np.quantile's answer is
    float64 then; other kinds of q keep float32 in NumPy 2 and go to np.quantile)."""
    fast = (isinstance(values, np.ndarray) and values.dtype == np.float32 and values.ndim == 1
            and len(values) >= max(small, 2) and isinstance(q, np.ndarray)
            and q.dtype == np.float64 and q.ndim == 1 and len(q) > 0
            and bool(((q >= 0) & (q <= 1)).all()))
    if not fast:
        return np.quantile(values, q)
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
