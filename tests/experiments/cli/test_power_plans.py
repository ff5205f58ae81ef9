"""`simctl power --from-ab` (a real test planned with what the A/B simulation measured) and
`--always-valid` (what peeking at will costs in users)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from experiments.cli.commands import app
from tests.conftest import ROOT

runner = CliRunner()


def test_from_ab_plans_with_the_measured_sd_and_the_effect_the_design_estimates(
        tmp_path: Path) -> None:
    """The per-user SD is the one the design's standard error implies, SE^2 = SD^2 (1/n_c +
    1/n_t), and the MDE is the design's mean estimate; n follows the normal closed form."""
    made = runner.invoke(app, ["ab", str(ROOT / "scenarios" / "ab_referral.yaml"),
                               "market.size=6000", "mechanics.seed.count=200", "--replicates",
                               "2", "--units", "user,cluster", "--out", str(tmp_path), "--quiet"])
    assert made.exit_code == 0, made.stderr
    folder = Path(made.stdout.strip())
    summary = json.loads((folder / "summary.json").read_text())
    for unit in ("user", "cluster"):
        result = runner.invoke(app, ["power", "--metric", "mean", "--from-ab", str(folder),
                                     "--ab-unit", unit, "--power", "0.8", "--json"])
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        row = next(d for d in summary["designs"] if d["unit"] == unit
                   and d["metric"] == "new_users")
        if abs(row["estimate"]) < abs(row["true_effect"]):  # a diluted test has less power
            assert row["analytic_power_at_estimate"] <= row["analytic_power"]
        sd = row["mean_se"] / math.sqrt(1 / row["n_control"] + 1 / row["n_treatment"])
        assert doc["mde_absolute"] == pytest.approx(row["estimate"])
        closed = 2 * sd**2 * (1.959963984540054 + 0.8416212335729143) ** 2 / row["estimate"]**2
        assert doc["n_control"] == pytest.approx(closed, rel=1e-9)
        assert f"(reward_20 vs control) by {unit} over 56 days estimates" in doc["notes"][-1]
    wrong = runner.invoke(app, ["power", "--metric", "proportion", "--from-ab", str(folder),
                                "--power", "0.8"])
    assert wrong.exit_code == 2 and "use --metric mean" in wrong.stderr


def _ab_folder(tmp_path: Path, **design: object) -> Path:
    """A `simctl ab` summary with one design of new_users by user (the fields power reads)."""
    row = {"metric": "new_users", "unit": "user", "arm": "reward_20", "size": 1.0,
           "duration": 20, "control_mean": 0.05, "estimate": 0.01, "true_effect": 0.0,
           "relative_bias": None, "mean_se": 0.004, "n_control": 500, "n_treatment": 500,
           **design}
    (tmp_path / "summary.json").write_text(json.dumps({"primary_metric": "new_users",
                                                       "designs": [row]}))
    return tmp_path


def test_from_ab_of_a_degenerate_simulation_is_one_line_or_says_what_is_missing(
        tmp_path: Path) -> None:
    """A tiny market leaves an arm empty or no spread (power failed on them): exit 2 with one
    line; a true effect of 0 has no relative bias, and the note says so."""
    for missing in ({"mean_se": None}, {"n_control": 0}, {"estimate": None}):
        folder = _ab_folder(tmp_path, **missing)
        result = runner.invoke(app, ["power", "--metric", "mean", "--from-ab", str(folder),
                                     "--power", "0.8"])
        assert result.exit_code == 2, (missing, result.stderr)
        assert "has no spread to plan from" in result.stderr and "Traceback" not in result.stderr
    result = runner.invoke(app, ["power", "--metric", "mean", "--from-ab",
                                 str(_ab_folder(tmp_path)), "--power", "0.8", "--json"])
    assert result.exit_code == 0, result.stderr
    assert "(bias n/a: the true effect is 0)" in json.loads(result.stdout)["notes"][-1]


def test_always_valid_sizing_reaches_the_power_with_the_sequence() -> None:
    """Sized with --always-valid, a mean test read once at the planned n with the confidence
    sequence (|z| >= 3.035 at alpha 0.05) has the requested power: Phi(delta sqrt(n/2)/sd - c)."""
    from scipy import stats

    from experiments.analysis.confidence_sequences import critical_z

    result = runner.invoke(app, ["power", "--metric", "mean", "--baseline", "10", "--sd", "1",
                                 "--mde", "0.2", "--power", "0.8", "--always-valid", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)["always_valid"]
    assert doc["critical_z"] == pytest.approx(critical_z(0.05)) and 3.03 < doc["critical_z"] < 3.04
    n = doc["n_control_units"]
    power = stats.norm.cdf(0.2 * math.sqrt(n / 2) - doc["critical_z"])
    assert 0.8 <= power < 0.8 + 0.002
    assert doc["n_factor"] == pytest.approx(1.915, abs=0.001)
    refused = runner.invoke(app, ["power", "--metric", "mean", "--baseline", "10", "--sd", "1",
                                  "--mde", "0.2", "--power", "0.8", "--arms", "3",
                                  "--always-valid"])
    assert refused.exit_code == 2 and "one two-sided comparison" in refused.stderr


def test_power_sizes_a_t_test_with_dunnett() -> None:
    """`--test t --correction dunnett` solves (it failed on the solver's large-n probe), close
    to the z test's n at these sizes."""
    args = ["power", "--metric", "mean", "--sd", "10", "--mde", "1", "--power", "0.8",
            "--arms", "4", "--correction", "dunnett", "--json"]
    t_test = runner.invoke(app, [*args, "--test", "t"])
    z_test = runner.invoke(app, [*args, "--test", "z"])
    assert t_test.exit_code == 0 and z_test.exit_code == 0, t_test.stderr
    n_t, n_z = (json.loads(r.stdout)["n_control"] for r in (t_test, z_test))
    assert n_z <= n_t <= n_z * 1.01


def test_a_failure_inside_power_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like every command (power printed a traceback when the solver failed)."""
    import experiments.cli.power_cli as power_cli

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(power_cli, "solve", broken)
    result = runner.invoke(app, ["power", "--metric", "mean", "--sd", "10", "--mde", "1",
                                 "--power", "0.8"])
    assert result.exit_code == 1
    assert "simctl: failed: RuntimeError: boom (run with --debug" in result.stderr
