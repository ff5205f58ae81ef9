"""A field given twice on one command line (two overrides, or an override and the option that
stands for it) was resolved silently, the last one winning; a bad value given by an option
was blamed on an override the user never wrote."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from experiments.cli.commands import app
from sim.errors import InputError
from sim.overrides import refuse_twice
from sim.scenario import load_scenario
from tests.conftest import ROOT

REFERENCE = str(ROOT / "scenarios" / "reference.yaml")


@pytest.mark.parametrize("args, line", [
    (["run", REFERENCE, "market.size=2000", "days=0", "--days", "60"],
     "days: given twice, as 'days=0' and as --days 60; give it once"),
    (["run", REFERENCE, "market.size=20000", "market.size=30000"],
     "market.size: given twice, as 'market.size=20000' and as 'market.size=30000'; give it "
     "once"),
    (["sweep", REFERENCE, "seed=3", "--seed", "4", "--param", "days=10,20"],
     "seed: given twice, as 'seed=3' and as --seed 4; give it once"),
    (["run", REFERENCE, "market.size=2000", "--days", "-5"],
     "days: Input should be greater than or equal to 1 (from --days -5)"),
])
def test_a_field_given_twice_is_refused_and_options_are_named(tmp_path, args: list[str],
                                                               line: str) -> None:
    done = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "runs")])
    assert done.exit_code == 2
    assert done.output.strip() == f"{REFERENCE}: {line}"
    assert not (tmp_path / "runs").exists()


def test_python_composes_defaults_and_extras_the_last_one_winning() -> None:
    """A notebook's helper passes its defaults then the caller's extras (`*more`)."""
    assert load_scenario(REFERENCE, ["market.size=2000", "market.size=3000"]).market.size == 3000
    with pytest.raises(InputError, match=r"market\.size: given twice"):
        refuse_twice(["market.size=2000", "market.size=3000"], REFERENCE)
