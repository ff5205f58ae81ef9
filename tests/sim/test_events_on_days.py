"""Events recorded on their own past days in one call (30-day repurchases) count exactly what
one call per day counts: a run that keeps the event log takes the per-day path, one that does
not the vectorised one, and an A/B tally adds the same events per user. And a run's summaries,
read by the files, the report and the CLI, are computed once."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sim.engine import UserTally, simulate
from tests.conftest import reference_dict, scenario_from


def test_repurchases_by_day_are_the_same_with_and_without_the_event_log() -> None:
    scenario = scenario_from(reference_dict(days=120, market={"size": 20_000}))
    lean, logged = simulate(scenario), simulate(scenario, log_events=True)
    assert lean.counts["repurchase_30d"].sum() > 100
    assert np.array_equal(lean.counts["repurchase_30d"], logged.counts["repurchase_30d"])


def test_a_tallied_repurchase_event_is_counted_per_user() -> None:
    scenario = scenario_from(reference_dict(days=120, market={"size": 20_000}))
    tallied = simulate(scenario, tally=UserTally(("repurchase_30d",), 0, (119,)))
    per_user = tallied.extras["user.repurchase_30d@119"]
    assert per_user.sum() == tallied.counts["repurchase_30d"].sum()
    assert np.array_equal(simulate(scenario).counts["repurchase_30d"],
                          tallied.counts["repurchase_30d"])


def test_a_result_computes_its_summaries_once_and_hands_out_copies() -> None:
    """The files, the report and the CLI's table read the same summaries: computed once, and
    a caller that changes its copy changes nobody else's."""
    from sim.engine import run

    result = run(scenario_from(reference_dict(days=30, market={"size": 2_000})))
    first = result.summary()
    first["purchases"]["mean"] = -1.0
    again = result.summary()
    assert again["purchases"]["mean"] >= 0 and again is not first
    assert set(result._computed) == {"summary"}
    assert result.channel_summary() == result.channel_summary()


def test_a_tally_without_cohort_tables_reads_the_same_per_user_numbers() -> None:
    """An A/B market skips the cohort tables, the retention grid and growth accounting: its
    per-user arrays, mechanics' tables and daily counters are the same as a full run's."""
    from sim.scenario import load_scenario
    from tests.conftest import ROOT

    scenario = load_scenario(ROOT / "scenarios" / "ab_referral.yaml",
                             ["market.size=5000", "days=40"])
    tally = UserTally(("order", "referral_reward"), 4, (20, 39))
    full = simulate(scenario, 1, tally=tally)
    lean = simulate(scenario, 1, tally=replace(tally, cohorts=False))
    assert full.extras.keys() == lean.extras.keys() and len(full.extras) > 5
    for name, values in full.extras.items():
        assert np.array_equal(values, lean.extras[name]), name
    assert all(np.array_equal(full.counts[e], lean.counts[e]) for e in full.counts
               if not e.startswith("ga_"))
    assert sum(t.sum() for t in full.cohort_counts.values()) > 0 and not lean.cohort_counts
    assert "ga_active" in full.counts and lean.counts["ga_active"].sum() == 0  # not asked for


def test_a_lean_tally_of_a_growth_accounting_event_still_counts_it() -> None:
    """ga_* metrics are A/B metrics too: tallied, their events are recorded in a lean run,
    per user exactly as in a full one."""
    from sim.scenario import load_scenario
    from tests.conftest import ROOT

    scenario = load_scenario(ROOT / "scenarios" / "ab_referral.yaml",
                             ["market.size=5000", "days=70"])
    tally = UserTally(("ga_new", "ga_churned", "order"), 4, (69,))
    full = simulate(scenario, 0, tally=tally).extras
    lean = simulate(scenario, 0, tally=replace(tally, cohorts=False)).extras
    assert full["user.ga_new@69"].sum() > 100 and full["user.ga_churned@69"].sum() > 10
    for name, values in full.items():
        assert np.array_equal(values, lean[name]), name
