"""The engine, the event-driven yardstick of benchmarks/ and its bare day loop (both written
independently of the engine) follow the same rules: over independent seeds, their means of every
daily total agree within Z_MAX standard errors of the difference (Welch). The speed comparisons
(bench_reference.py, bench_speed.py) are only meaningful because of these tests."""

from __future__ import annotations

import sys

import numpy as np

from sim.engine import simulate
from tests.conftest import ROOT, reference_dict, scenario_from
from tests.validation.checks import Z_MAX

sys.path.insert(0, str(ROOT / "benchmarks"))
import day_loop_reference as day_loop
import event_driven_reference as yardstick

USERS, DAYS, SEEDS = 30_000, 120, 20


def _totals(counts: dict[str, np.ndarray]) -> dict[str, float]:
    """Acquisition and orders over the first days (the Bass wave; by day 20 it shows whether
    churned users stop counting in A_t), and totals over the run (not of acquisition: everyone
    has joined by then)."""
    return {"acquired_3d": float(counts["acquired"][:3].sum()),
            "acquired_10d": float(counts["acquired"][:10].sum()),
            "acquired_20d": float(counts["acquired"][:20].sum()),
            "orders_10d": float(counts["orders"][:10].sum()),
            **{k: float(v.sum()) for k, v in counts.items() if k != "acquired"}}


def _engine(seed: int) -> dict[str, float]:
    scenario = scenario_from(reference_dict(seed=seed, days=DAYS, market={"size": USERS}))
    c = simulate(scenario)
    return _totals({"acquired": c.counts["acquired"].sum(1), "orders": c.counts["order"].sum(1),
                    "revenue": c.amounts["order"].sum(1), "churned": c.counts["churned"].sum(1)})


def _far_apart(one: list[dict[str, float]], other: list[dict[str, float]]) -> list[str]:
    """The totals whose means differ by more than Z_MAX standard errors (Welch)."""
    far = []
    for key in one[0]:
        a, b = np.array([e[key] for e in one]), np.array([o[key] for o in other])
        se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        z = (a.mean() - b.mean()) / se
        if abs(z) > Z_MAX:
            far.append(f"{key}: {a.mean():.1f} against {b.mean():.1f}, z = {z:+.2f}")
    return far


def test_engine_and_event_driven_yardstick_agree() -> None:
    rules = yardstick.ReferenceRules(users=USERS, days=DAYS)
    engine = [_engine(1000 + s) for s in range(SEEDS)]
    other = [_totals(yardstick.simulate(rules, 2000 + s)) for s in range(SEEDS)]
    far = _far_apart(engine, other)
    assert not far, "engine against yardstick:\n" + "\n".join(far)


def test_bare_day_loop_and_event_driven_yardstick_agree() -> None:
    rules = yardstick.ReferenceRules(users=USERS, days=DAYS)
    loop = [_totals(day_loop.simulate(rules, 3000 + s)) for s in range(SEEDS)]
    other = [_totals(yardstick.simulate(rules, 2000 + s)) for s in range(SEEDS)]
    far = _far_apart(loop, other)
    assert not far, "day loop against yardstick:\n" + "\n".join(far)
