"""Days in a run: the periodic dates mechanics act on, stated as predicates of the day.

A mechanic that acts every N days (RFM recomputation, community invitation rounds, paid
membership offers, monthly costs) asks `period_ends(day, N)` in its step: the last day of each
N-day period counted from day 0 (N - 1, 2N - 1, ...), after that day's orders. Dated things with
clocks of their own (supplier lead times, live-stream slots, renewals, windows) stay SimPy
processes; the engine runs every SimPy event due by a day before that day's steps.
"""

from __future__ import annotations

MONTH = 30  # days in a billing month (monthly costs, recommender fees)


def period_ends(day: int, every: int) -> bool:
    """Whether `day` is the last day of an `every`-day period counted from day 0."""
    return (day + 1) % every == 0
