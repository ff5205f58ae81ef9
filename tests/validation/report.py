"""Write docs/validation.md: every check of the validation suite with its figures.

`python -m tests.validation.report` runs the checks of tests/validation/checks.py (the ones
the suite runs) and writes the table a sceptical analyst wants: check, theory, simulated ±
standard error, z, verdict and the market simulated. Run it after changing the engine.
"""

from __future__ import annotations

import platform
import sys
import time
from datetime import UTC, datetime

from tests.conftest import ROOT
from tests.validation.checks import CHECKS, Z_MAX, Check

TARGET = ROOT / "docs" / "validation.md"

HEAD = f"""# Validation

Every closed form that applies to the engine, checked by the suite
(`tests/validation/test_theory.py`) and tabulated here by `python -m tests.validation.report`
(the same code). Each check simulates a market and compares one number with theory; the
standard error (s.e.) is the Monte Carlo standard error of the difference, from theory
(binomial, or the exact per-user variance) or from the spread over replicates. A check passes
when |z| = |simulated - theory| / s.e. <= {Z_MAX:g} (a false alarm about once in 16,000
checks). Where the engine's daily steps depart from a continuous formula the theory is its
exact daily form: Bass as the daily recursion, BG/NBD as daily Bernoulli trials with dropout
after a purchase (`sim/theory.py`), group buys over whole days.

Beside these, the suite checks (no table, since each is exact or a property):
- **every metric from the event log** (`tests/validation/test_event_log.py`): with every
  mechanic of the playbook on and an experiment of two arms, each metric equals its rebuild
  from `events.parquet` by day, arm and channel, except those computed from a level a mechanic
  records at the end of the day (docs/metrics.md marks them); first orders, 30-day repurchases
  (orders of every path), referred users (on the referee's join day), K-factor and viral
  cycle time are rebuilt by hand from the primary events;
- **every combination runs** (`tests/validation/test_combinations.py`): hypothesis draws
  subsets of those mechanics; each completes, conserves users and money, and gives finite
  metrics or NaN only where a ratio's denominator is 0;
- **the A/B markets are one market until the start day** (`tests/validation/test_ab_markets.py`):
  mixed, all-treatment and all-control markets have equal counters, day for day, before
  `start_day`.
- **an independent implementation agrees** (`tests/validation/test_event_driven_yardstick.py`):
  the event-driven numpy reference model of `benchmarks/event_driven_reference.py`, written
  from the rules alone (the yardstick of the speed benchmark), and the engine give the same
  acquisition in the Bass wave (days 3, 10 and 20), orders, revenue and churn over 20 seeds
  each, within 4 standard errors of the difference (Welch); so do the yardstick and
  `benchmarks/day_loop_reference.py`, the same rules as the barest numpy day loop (the
  benchmark's floor for stepping days; a day loop that kept churned users in A_t fails it).
"""


def row(c: Check) -> str:
    verdict = "pass" if c.passed else "**FAIL**"
    return (f"| {c.name} | {c.claim} | {c.theory:,.6g} | {c.simulated:,.6g} ± {c.se:,.3g} | "
            f"{c.z:+.2f} | {verdict} | {c.scenario} |")


def main() -> int:
    rows, failed, started = [], 0, time.perf_counter()
    for group, run in CHECKS.items():
        print(f"{group} ...", file=sys.stderr, flush=True)
        for c in run():
            rows.append(row(c))
            failed += not c.passed
    took = time.perf_counter() - started
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = ["| check | theory says | theory | simulated ± s.e. | z | verdict | market |",
             "|---|---|---|---|---|---|---|", *rows]
    foot = (f"\n{len(rows)} checks, {failed} failed; written {when} on {platform.machine()} "
            f"Python {platform.python_version()} in {took:.0f} s.\n")
    TARGET.write_text(HEAD + "\n" + "\n".join(table) + "\n" + foot, encoding="utf-8")
    print(f"{TARGET}: {len(rows)} checks, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
