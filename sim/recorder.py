"""Daily counters per arm, filled by the mechanics and turned into metrics afterwards."""

from __future__ import annotations

import numpy as np


class Recorder:
    def __init__(self, counters: list[str], days: int, n_arms: int) -> None:
        self.days = days
        self.n_arms = n_arms
        self.values: dict[str, np.ndarray] = {
            name: np.zeros((days, n_arms), dtype=np.float64) for name in counters
        }

    def add(self, counter: str, day: int, per_arm: np.ndarray | float) -> None:
        self.values[counter][day] += per_arm

    def set(self, counter: str, day: int, per_arm: np.ndarray | float) -> None:
        self.values[counter][day] = per_arm
