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
