"""The users: one numpy array per attribute, one row per potential user of the market.

Core columns every scenario has:
- `stage`: POTENTIAL (not yet a user), ALIVE (acquired, not churned) or CHURNED;
- `arm`: the experiment arm the user belongs to (0 when there is no experiment);
- `acquired_day`: the day the user was acquired (-1 while potential).
Mechanics add their own columns by declaring them. Stage changes go through `acquire` and
`churn`, which keep per-arm stage counts so no mechanic ever has to count a whole column.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stage(IntEnum):
    POTENTIAL = 0
    ALIVE = 1
    CHURNED = 2


CORE_COLUMNS: dict[str, np.dtype] = {
    "stage": np.dtype(np.int8),
    "arm": np.dtype(np.int8),
    "acquired_day": np.dtype(np.int16),
}


class Population:
    def __init__(
        self,
        size: int,
        arm: np.ndarray,
        n_arms: int,
        columns: dict[str, np.dtype],
        order_rng: np.random.Generator,
    ) -> None:
        self.size = size
        self.n_arms = n_arms
        self.arm = arm
        self.stage = np.zeros(size, dtype=np.int8)
        self.acquired_day = np.full(size, -1, dtype=np.int16)
        self.columns: dict[str, np.ndarray] = {}
        for name, dtype in columns.items():
            if name not in CORE_COLUMNS:
                self.columns[name] = np.zeros(size, dtype=dtype)
        self.stage_counts = np.zeros((len(Stage), n_arms), dtype=np.int64)
        self.stage_counts[Stage.POTENTIAL] = np.bincount(arm, minlength=n_arms)
        # Potential users of each arm in a random order: the next k of a uniformly shuffled
        # pool are a uniformly random k-subset, which is what "each potential user joins with
        # probability h" needs, without one random number per user per day.
        self._pool = [order_rng.permutation(np.flatnonzero(arm == a)).astype(np.int32)
                      for a in range(n_arms)]
        self._pool_next = [0] * n_arms
        self.today: dict[str, list[np.ndarray]] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    # --- counts -------------------------------------------------------------------------------
    def count(self, stage: Stage) -> np.ndarray:
        """Users in a stage, per arm."""
        return self.stage_counts[stage]

    def per_arm(self, rows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Count (or sum `weights`) of the given rows per arm."""
        if self.n_arms == 1:
            total = len(rows) if weights is None else float(np.sum(weights))
            return np.array([total], dtype=np.float64)
        return np.bincount(self.arm[rows], weights=weights, minlength=self.n_arms).astype(
            np.float64
        )

    # --- stage changes ------------------------------------------------------------------------
    def draw_potential(self, arm: int, k: int) -> np.ndarray:
        """k uniformly random potential users of an arm (fewer if the arm runs out)."""
        pool, start, taken = self._pool[arm], self._pool_next[arm], []
        while k > 0 and start < len(pool):
            chunk = pool[start : start + k]
            start += len(chunk)
            chunk = chunk[self.stage[chunk] == Stage.POTENTIAL]  # others may have joined them
            taken.append(chunk)
            k -= len(chunk)
        self._pool_next[arm] = start
        return np.concatenate(taken) if taken else np.empty(0, dtype=np.int32)

    def acquire(self, rows: np.ndarray, day: int) -> None:
        self.stage[rows] = Stage.ALIVE
        self.acquired_day[rows] = day
        moved = self.per_arm(rows).astype(np.int64)
        self.stage_counts[Stage.POTENTIAL] -= moved
        self.stage_counts[Stage.ALIVE] += moved
        self.emit("acquired", rows)

    def churn(self, rows: np.ndarray) -> None:
        self.stage[rows] = Stage.CHURNED
        moved = self.per_arm(rows).astype(np.int64)
        self.stage_counts[Stage.ALIVE] -= moved
        self.stage_counts[Stage.CHURNED] += moved
        self.emit("churned", rows)

    # --- today's events: how mechanics hear about each other's work ---------------------------
    def begin_day(self) -> None:
        self.today = {}

    def emit(self, event: str, rows: np.ndarray) -> None:
        self.today.setdefault(event, []).append(rows)

    def rows_today(self, event: str) -> np.ndarray:
        parts = self.today.get(event)
        if not parts:
            return np.empty(0, dtype=np.int32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
