"""`np.searchsorted` for many keys into one long sorted table, in O(1) expected time per key.

A binary search costs a cache miss or a mispredicted branch per step: about 200 ns a key into
1M entries (14 ns into a few hundred, where this gains little: it makes a dozen array passes
per key). A guide table (Chen & Asau 1974; Devroye 1986, III.2.4) splits the table's range
into equal slices and remembers, for each, the answer at the slice's start; a key starts from
the slice below its own (one slice early, so rounding in the slice arithmetic never starts it
past its answer) and walks on. The answers are exactly searchsorted's, bit for bit: the walk
makes the same comparisons. Used by the graph build, whose weighted friend picks search 1M
cumulative weights with millions of keys (3.5x faster than searchsorted). Keys must not be
NaN; the table may end in +inf.
"""

from __future__ import annotations

from typing import Literal

import numpy as np


class SortedTable:
    """A sorted table prepared for `search`; build once, search many times."""

    def __init__(self, table: np.ndarray, side: Literal["left", "right"] = "left",
                 slices_per_entry: int = 2) -> None:
        self.table = np.asarray(table, dtype=np.float64)
        self.side = side
        finite = self.table[np.isfinite(self.table)]
        self.low = float(finite[0]) if len(finite) else 0.0
        high = float(finite[-1]) if len(finite) else 0.0
        self.slices = max(1, slices_per_entry * len(finite))
        self.width = (high - self.low) / self.slices or 1.0
        # slice j starts at low + (j - 1) * width: slice 0 lies below every entry, so keys
        # below the table start from its first entry
        starts = self.low + (np.arange(self.slices + 2) - 1.0) * self.width
        self.guide = np.searchsorted(self.table, starts, side=side)

    def search(self, keys: np.ndarray) -> np.ndarray:
        """np.searchsorted(table, keys, side) as int64."""
        keys = np.asarray(keys, dtype=np.float64)
        slot = keys - self.low  # in place from here: millions of keys, no extra copies
        slot /= self.width
        np.floor(slot, out=slot)  # the key's own slice less one: never past its answer
        np.clip(slot, 0, self.slices + 1, out=slot)
        found = slot.astype(np.int64)
        del slot
        np.take(self.guide, found, out=found)
        table, n = self.table, len(self.table)
        short = np.less if self.side == "left" else np.less_equal  # entry still before the key
        walking = np.flatnonzero(found < n)
        walking = walking[short(table[found[walking]], keys[walking])]
        while len(walking):
            found[walking] += 1
            walking = walking[found[walking] < n]
            walking = walking[short(table[found[walking]], keys[walking])]
        return found
