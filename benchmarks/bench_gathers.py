"""Issue 17: where the reference gap lives. The engine keeps users as columns (one NumPy array
per per-user field) and each order of the reference run reads or writes about a dozen of them
at the buyer's row (the due user's stage, group, order count, acquisition day and channel for
the cohort tables, dropout and purchase probabilities, next checkout day, the growth-accounting
flag byte and revenue). The buyers of a day are a sparse ascending subset of a million rows,
so every such access is its own cache line. The event-driven yardstick walks users in index
order instead.

This measures, at 1M users with days of 14,000 sorted random buyers (the reference run's 5.1M
orders over 365 days), nanoseconds per order for:

- `columns`: COLUMNS per-user fields, each gathered as its own array (the engine's layout);
- `record gather`: the same fields in one structured array (a row of 48 bytes), whole rows
  gathered, then each field taken from the gathered rows: NumPy's way to a record layout;
- `record fields`: the same structured array, each field gathered through its strided view;
- `contiguous`: the same number of values read as a contiguous slice of each column (the
  access pattern of a loop over users in index order);

and the cost of the due scan (`next == day` over the whole column) in either layout.

    python benchmarks/bench_gathers.py      # about 30 s on 2 cores
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine  # noqa: E402

USERS, DAYS, BUYERS_A_DAY = 1_000_000, 365, 14_000
RUNS = int(os.environ.get("GROWTHSIM_BENCH_RUNS", "5"))
FIELDS = [("next_purchase_day", "i4"), ("purchase_count", "i4"), ("first_order_day", "i4"),
          ("acquired_day", "i2"), ("channel", "i2"), ("group", "i2"), ("ga_flags", "u1"),
          ("stage", "u1"), ("purchase_prob", "f8"), ("dropout_prob", "f8"),
          ("ga_revenue_even", "f8"), ("ga_revenue_odd", "f8")]
COLUMNS = len(FIELDS)


def _filled(array: np.ndarray) -> np.ndarray:
    """Every page written once, as a run's columns are (a calloc'd zero page reads free)."""
    array.view(np.uint8)[:] = 1
    return array


def _layouts() -> tuple[dict[str, np.ndarray], np.ndarray]:
    columns = {name: _filled(np.empty(USERS, dtype=kind)) for name, kind in FIELDS}
    return columns, _filled(np.empty(USERS, dtype=FIELDS))


def _days(rng: np.random.Generator) -> list[np.ndarray]:
    return [np.sort(rng.choice(USERS, BUYERS_A_DAY, replace=False)) for _ in range(DAYS)]


def _timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _patterns(columns: dict[str, np.ndarray], records: np.ndarray,
              days: list[np.ndarray]) -> dict[str, Callable[[], None]]:
    names = [name for name, _ in FIELDS]

    def by_column() -> None:
        for rows in days:
            for name in names:
                columns[name][rows]

    def record_gather() -> None:
        for rows in days:
            gathered = records[rows]
            for name in names:
                np.ascontiguousarray(gathered[name])

    def record_fields() -> None:
        for rows in days:
            for name in names:
                records[name][rows]

    def contiguous() -> None:
        for day, rows in enumerate(days):
            start = (day * len(rows)) % (USERS - len(rows))
            for name in names:
                columns[name][start:start + len(rows)].copy()

    def scan_columns() -> None:
        for day in range(DAYS):
            np.flatnonzero(columns["next_purchase_day"] == day)

    def scan_records() -> None:
        for day in range(DAYS):
            np.flatnonzero(records["next_purchase_day"] == day)

    return {"columns": by_column, "record gather": record_gather,
            "record fields": record_fields, "contiguous": contiguous,
            "due scan, columns": scan_columns, "due scan, records": scan_records}


def main() -> None:
    columns, records = _layouts()
    days = _days(np.random.default_rng(17))
    patterns = _patterns(columns, records, days)
    seconds: dict[str, list[float]] = {name: [] for name in patterns}
    for _ in range(RUNS):  # in turn, so that a slow spell of the machine hits all alike
        for name, work in patterns.items():
            seconds[name].append(_timed(work))
    orders = DAYS * BUYERS_A_DAY
    rows = {}
    for name, runs in seconds.items():
        median = statistics.median(runs)
        per_order = None if name.startswith("due scan") else median / orders * 1e9
        rows[name] = {"median_seconds": median, "runs": runs, "ns_per_order": per_order,
                      "ns_per_field_access": None if per_order is None else per_order / COLUMNS}
        said = f"{median:.3f} s" + ("" if per_order is None else
                                   f" = {per_order:.1f} ns per order, "
                                   f"{per_order / COLUMNS:.2f} ns per field access")
        print(f"{name:>18}: {said}")
    doc = {"machine": machine(), "users": USERS, "days": DAYS, "buyers_a_day": BUYERS_A_DAY,
           "fields": [name for name, _ in FIELDS], "runs": RUNS, "patterns": rows}
    out = ROOT / "benchmarks" / "results" / "gathers.json"
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
