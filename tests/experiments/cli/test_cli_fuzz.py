"""Fuzzing through the command line: mutated shipped scenarios and overrides, given to
`simctl validate` and then `simctl run`, never exit 1 and never print a traceback; each either
runs or exits 2 with located one-line messages (the scenario-level fuzzer is in
tests/sim/test_scenario_fuzz.py; this one adds the CLI's own handling around it)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from experiments.cli.commands import app
from tests.conftest import ROOT
from tests.sim.test_scenario_fuzz import SHIPPED, _keys, mutated

runner = CliRunner()
TINY = ["market.size=300", "--quiet"]


def _tiny(name: str) -> list[str]:
    """A small market for the run, its seed users scaled down with it (a count above the
    market is refused, which would stop most examples before they run)."""
    seeds = [f"{key}=30" for key in _keys(SHIPPED[name])
             if re.fullmatch(r"mechanics\.\w+\.count", key)]
    return [*seeds, *TINY]


def _check(result: object, source: str) -> None:
    code, stderr = result.exit_code, result.stderr  # type: ignore[attr-defined]
    assert code in (0, 2), (code, stderr, result.exception)  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    if code == 2:
        lines = [line for line in stderr.splitlines() if "warning:" not in line]
        assert lines, stderr
        for line in lines:  # located: the scenario file, or the option / command at fault
            assert line.startswith((source, "--", "simctl")), line


@settings(max_examples=30, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_scenarios_run_or_exit_2_through_the_cli(case: tuple[str, str, list[str]]) -> None:
    name, text, overrides = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        checked = runner.invoke(app, ["validate", str(path), *overrides])
        _check(checked, str(path))
        if checked.exit_code == 0:
            ran = runner.invoke(app, ["run", str(path), *overrides, *_tiny(name), "--out",
                                      str(Path(folder) / "runs")])
            _check(ran, str(path))
            if ran.exit_code == 2:
                assert not (Path(folder) / "runs").exists()


def test_an_override_too_long_for_a_file_name_is_still_an_override() -> None:
    """`validate` tells files from overrides by asking the file system; a 5,000-character
    override must not make that question fail (ENAMETOOLONG) into an exit 1."""
    result = runner.invoke(app, ["validate", str(ROOT / "scenarios" / "reference.yaml"),
                                 "market.size=" + "9" * 5000])
    assert result.exit_code == 2 and "market.size" in result.stderr
    assert "Traceback" not in result.stderr
