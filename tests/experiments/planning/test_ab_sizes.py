"""`simctl ab --sizes N` simulates the market that `market.size=N` loads.

ab_referral.yaml writes its seed users for market.reference_size 100,000, and loading scales
them with market.size. Each --sizes value must go through the same scaling: a resized market
that kept the loaded scenario's 3,000 seeds would be a different (and at 2,000 users an
impossible) market. Equality of the resolved scenarios is exact: same data, same path.
"""

from __future__ import annotations

from pathlib import Path

from experiments.planning.abtest import markets, plan_tasks, simulate_ab
from experiments.runs.executors import make_executor
from sim.scenario import Scenario, load_scenario
from tests.conftest import ROOT, reference_dict, scenario_from

REFERRAL = ROOT / "scenarios" / "ab_referral.yaml"


def loaded(*overrides: str) -> Scenario:
    return load_scenario(REFERRAL, list(overrides))


def test_a_size_resolves_like_the_market_size_override() -> None:
    """Every market of a --sizes design equals that of the scenario loaded at the size, from
    the scenario as written and from one loaded at another size (scaling starts again from
    the data as written, it does not compound)."""
    for base in (loaded(), loaded("market.size=50000")):
        for size in (20000, 2000):
            at_size = loaded(f"market.size={size}")
            got, want = markets(base, "user", size, 40), markets(at_size, "user", size, 40)
            for a, b in zip((got.mixed, got.control, *got.launches),
                            (want.mixed, want.control, *want.launches), strict=True):
                assert a.model_dump() == b.model_dump()
    assert markets(loaded(), "user", 2000, 40).mixed.mechanics["seed"].count == 60


def test_an_overridden_field_keeps_its_value_at_every_size() -> None:
    """A value given on the command line is the user's word for the market, as with
    market.size=N: it is not scaled (sim/scaling.py)."""
    base = loaded("mechanics.seed.count=500")
    got = markets(base, "user", 2000, 40).mixed
    want = loaded("mechanics.seed.count=500", "market.size=2000")
    assert got.mechanics["seed"].count == 500
    assert got.model_dump() == markets(want, "user", 2000, 40).mixed.model_dump()


def test_small_sizes_are_planned_instead_of_refused() -> None:
    """`--sizes 2000,4000` on ab_referral: 60 and 120 seed users, not 3,000 in a market of
    2,000 (which validation refuses)."""
    tasks = plan_tasks(loaded(), ["user"], [2000, 4000], (14, 28), 3, 0.05)
    assert len(tasks) == 2 * 3
    seeds = {t.args[0][0].size: t.args[0][0].markets.mixed.mechanics["seed"].count
             for t in tasks}
    assert seeds == {2000: 60, 4000: 120}


def test_each_other_size_says_what_scaling_changed() -> None:
    """The scaling note `market.size=N` prints at load is handed to `say` for each other
    size, once, before the run; the loaded size was said at load."""
    said: list[Scenario] = []
    rows = simulate_ab(loaded(), make_executor("serial"), units=["user"],
                       sizes=[2000, 2000, 100000], durations=[3], replicates=1, say=said.append)
    assert len(rows)
    assert [s.market.size for s in said] == [2000]
    (note,) = said[0].notes
    assert note.severity == "note" and "mechanics.seed.count 3,000 -> 60" in note.message
    assert note.message == loaded("market.size=2000").notes[0].message


def test_a_scenario_without_a_reference_size_only_changes_size() -> None:
    """Nothing to scale: the market is the scenario at the new size, as before."""
    data = reference_dict(days=30, market={"size": 1000}, seed=5)
    data["experiment"] = {"primary_metric": "purchases", "arms": [
        {"name": "control", "share": 0.5}, {"name": "treatment", "share": 0.5}]}
    base = scenario_from(data)
    mixed = markets(base, "user", 3000, 20).mixed
    assert mixed.market.size == 3000
    assert mixed.mechanics == base.mechanics


def test_the_command_says_what_scaling_changed_at_each_size(tmp_path: Path) -> None:
    """`simctl ab --sizes` prints each other size's scaling note, as loading prints its own."""
    from typer.testing import CliRunner

    from experiments.cli import app

    result = CliRunner().invoke(app, ["ab", str(REFERRAL), "--sizes", "2000,4000", "--durations",
                                      "7", "--units", "user", "--replicates", "2", "--quiet",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for size, seeds in ((2000, 60), (4000, 120)):
        assert (f"market.size {size:,} is {size / 100000:g} x market.reference_size 100,000: "
                f"scaled in proportion: mechanics.seed.count 3,000 -> {seeds}") in result.stderr
