"""What `simctl calibrate` does with inputs it cannot use as they are: an --until past the file's
end, ISO dates mixed with timestamps, US dates, logs too small for the likelihood; and that a
refused or failed calibration writes nothing (no folder, no id_salt)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.calibration import calibrate as calibrate_module
from experiments.calibration.likelihood import _check_pinned, _inverse_information
from experiments.calibration.objective import FitParam
from experiments.calibration.observed import load_observed
from experiments.cli.commands import app
from sim.errors import InputError
from tests.conftest import ROOT

CDNOW = ROOT / "scenarios" / "cdnow.yaml"
HEADER = "customer_id,date,quantity,amount\n"
# Eight customers, every one with a repeat order: enough distinct histories for the four
# BG/NBD parameters, too few for the maximum to stay inside the scenario's boxes.
EIGHT = HEADER + "".join(f"{c},{d},1,10\n" for c, d in [
    (0, "1997-01-29"), (0, "1997-03-31"), (1, "1997-02-19"), (1, "1997-06-12"),
    (2, "1997-01-17"), (2, "1997-04-26"), (2, "1997-05-01"), (3, "1997-02-15"),
    (3, "1997-04-10"), (4, "1997-02-17"), (4, "1997-06-14"), (5, "1997-01-09"),
    (5, "1997-03-10"), (6, "1997-01-16"), (6, "1997-03-17"), (7, "1997-01-30"),
    (7, "1997-04-27"), (7, "1997-02-19"), (7, "1997-03-10"), (7, "1997-05-26")])


@pytest.fixture(autouse=True)
def _random_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    """A salt from the environment is never written; these tests check the written one."""
    monkeypatch.delenv("GROWTHSIM_ID_SALT", raising=False)


def _write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _calibrate(log: Path, *args: str) -> tuple[int, list[str]]:
    """Run the command (scenarios/cdnow.yaml, likelihood); exit code and non-empty lines."""
    done = CliRunner().invoke(app, ["calibrate", str(CDNOW), "--observed", str(log),
                                    "--noise-replicates", "2", "--draws", "20", "--quiet",
                                    *args])
    return done.exit_code, [line for line in done.output.splitlines() if line.strip()]


# --- 1. --until past the file's last date ---------------------------------------------------


def test_until_past_the_last_date_of_a_log_is_refused(tmp_path: Path) -> None:
    log = _write(tmp_path, HEADER + "1,1997-01-01,1,5\n2,1997-01-03,1,5\n1,1997-02-03,1,5\n")
    with pytest.raises(InputError) as info:
        load_observed(log, until="1997-12-31", salt_folder=tmp_path / "cal")
    assert [str(p) for p in info.value.problems] == [
        f"--until: 1997-12-31 is past the last date of {log} (1997-02-03): the days after it "
        "would count as days without orders; give --until 1997-02-03 or earlier"]
    assert load_observed(log, until="1997-02-03").days == 34  # --until is inclusive
    code, lines = _calibrate(log, "--until", "1997-12-31", "--out", str(tmp_path / "cal"))
    assert code == 2 and len(lines) == 1 and "give --until 1997-02-03 or earlier" in lines[0]
    assert not (tmp_path / "cal").exists()


def test_until_past_the_last_date_of_a_daily_table_is_refused(tmp_path: Path) -> None:
    table = _write(tmp_path, "date,purchases\n2025-01-01,3\n2025-01-02,4\n", "daily.csv")
    with pytest.raises(InputError, match=r"past the last date of .*daily.csv \(2025-01-02\)"):
        load_observed(table, until="2025-01-09")


# --- 4. dates: ISO dates and timestamps mix; US dates are refused ---------------------------


@pytest.mark.parametrize("times", [
    ("1997-01-01 10:00:00", "1997-01-03T09:00:00"),
    ("1997-01-01", "1997-01-03 09:00:00"),
    ("1997-01-01T10:00:00+08:00", "1997-01-03T01:00:00+00:00"),  # offsets differ: China time
    ("1997-01-01", "1997-01-02T20:00:00Z"),  # 1997-01-03 04:00 in China
])
def test_iso_dates_and_timestamps_mix(tmp_path: Path, times: tuple[str, str]) -> None:
    log = _write(tmp_path, HEADER + f"1,{times[0]},1,5\n2,{times[1]},1,5\n")
    obs = load_observed(log, salt_folder=tmp_path)
    assert obs.start == pd.Timestamp("1997-01-01") and obs.days == 3
    assert obs.daily["new_users"].tolist() == [1, 0, 1]


def test_us_dates_are_refused_as_ambiguous_in_one_line(tmp_path: Path) -> None:
    log = _write(tmp_path, HEADER + "1,01/02/1997,1,5\n2,01/03/1997,1,5\n1,02/03/1997,1,5\n")
    code, lines = _calibrate(log, "--out", str(tmp_path / "cal"))
    assert code == 2
    assert lines == [f"{log}:2: date: 01/02/1997 is ambiguous (day and month order); write "
                     "dates as YYYY-MM-DD (and 2 more rows like it: 3, 4)"]
    iso = _write(tmp_path, HEADER + "1,1997-01-02,1,5\n2,1997-07-09,1,5\n", "iso.csv")
    with pytest.raises(InputError, match="07/01/1997 is ambiguous"):
        load_observed(iso, until="07/01/1997")
    assert not (tmp_path / "cal").exists()


# --- 2. logs too small for the likelihood ---------------------------------------------------


def test_exp_of_a_far_parameter_does_not_overflow_and_normal_values_are_unchanged() -> None:
    p = FitParam("mechanics.purchase.dropout.a", 0.05, 5.0, True)
    assert p.from_u(1e6) == 5.0 and p.from_u(-1e6) == 0.05
    for u in np.linspace(-10, 10, 201):  # the formula before the guard, bit for bit
        assert p.from_u(float(u)) == float(min(max(math.exp(u), 0.05), 5.0))


@pytest.mark.parametrize(("rows", "distinct"), [
    ("1,1997-01-01,1,11.77\n2,1997-01-03,1,10\n1,1997-02-03,1,10\n3,1997-01-09,1,12\n", 3),
    ("1,1997-01-01,1,11.77\n1,1997-01-10,1,10\n1,1997-02-03,1,10\n1,1997-03-03,1,10\n", 1),
    ("1,1997-01-01,1,11.77\n2,1997-01-03,1,10\n1,1997-02-03,1,10\n", 2),
], ids=["three customers", "one customer", "two customers"])
def test_fewer_histories_than_parameters_is_refused_and_leaves_nothing(
        tmp_path: Path, rows: str, distinct: int) -> None:
    """Three customers once crashed (OverflowError), one was 'fitted' at the box's corners,
    two left an id_salt behind."""
    out = tmp_path / "cal"
    code, lines = _calibrate(_write(tmp_path, HEADER + rows), "--out", str(out))
    assert code == 2 and len(lines) == 1, lines
    assert f"give only {distinct} distinct history(ies)" in lines[0]
    assert "fewer than the 4 fitted parameters" in lines[0]
    assert not out.exists()


def test_a_likelihood_flat_along_a_parameter_leaves_no_folder_and_no_salt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five distinct histories, one repeat order: the dropout is not pinned down (its standard
    error was 4,000 boxes wide, and its draws overflowed). Without --out the folder would be
    runs/calibrations/cdnow under the current folder."""
    log = _write(tmp_path, HEADER + "1,1997-01-01,1,1\n2,1997-01-05,1,1\n3,1997-01-09,1,1\n"
                 "4,1997-01-13,1,1\n5,1997-01-17,1,1\n1,1997-02-01,1,1\n")
    monkeypatch.chdir(tmp_path)
    code, lines = _calibrate(log)
    assert code == 2 and len(lines) == 1, lines
    assert "mechanics.purchase.dropout" in lines[0] and "do not pin down" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_a_standard_error_wider_than_the_box_is_refused() -> None:
    params = [FitParam("r", 0.05, 2.0, True), FitParam("a", 0.05, 5.0, True)]
    _check_pinned(params, np.diag([0.5, 4.0]))  # sd 2 < log(100) = 4.6: kept
    with pytest.raises(InputError, match="a: the customers' histories do not pin down"):
        _check_pinned(params, np.diag([0.5, 25.0]))


def test_a_hessian_that_is_no_covariance_names_its_flattest_parameter() -> None:
    """Whether a flat direction shows as a too-wide standard error or as a Hessian whose inverse
    is no covariance depends on rounding (the 5-customer log above takes either path on different
    machines): both name the parameter."""
    params = [FitParam("r", 0.05, 2.0, True), FitParam("a", 0.05, 5.0, True)]
    flat_along_a = lambda u: (u[0] - 0.3) ** 2  # noqa: E731
    with pytest.raises(InputError, match="a: the customers' histories do not pin down"):
        _inverse_information(params, flat_along_a, np.array([0.3, 1.0]))
    cov = _inverse_information(params, lambda u: (u[0] - 0.3) ** 2 + (u[1] - 1.0) ** 2,
                               np.array([0.3, 1.0]))
    assert np.allclose(cov, np.eye(2) / 2, atol=1e-6)


def test_an_estimate_at_the_end_of_its_box_is_warned_about(tmp_path: Path) -> None:
    out = tmp_path / "cal"
    done = CliRunner().invoke(app, ["calibrate", str(CDNOW), "--observed",
                                    str(_write(tmp_path, EIGHT)), "--noise-replicates", "2",
                                    "--draws", "20", "--out", str(out)])
    assert done.exit_code == 0, done.output
    warned = [line for line in done.output.splitlines() if "calibrate: warning:" in line]
    assert any("purchase_rate.r stopped at the upper end of its --fit box (2)" in line
               for line in warned), done.output
    summary = json.loads((Path(done.stdout.strip()).parent / "summary.json").read_text())
    assert [f"calibrate: warning: {w}" for w in summary["posterior"]["warnings"]] == warned
    assert (out / "id_salt").is_file()  # a calibration that went through keeps its salt


# --- 3. nothing written when the fit fails --------------------------------------------------


def test_a_failed_fit_leaves_no_salt_in_an_existing_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug in the fit")

    monkeypatch.setattr(calibrate_module, "maximum_likelihood", broken)
    out = tmp_path / "mine"
    out.mkdir()
    code, lines = _calibrate(_write(tmp_path, EIGHT), "--out", str(out))
    assert code == 1 and lines == ["simctl: failed: RuntimeError: a bug in the fit (run with "
                                   "--debug for the traceback)"]
    assert out.is_dir() and not list(out.iterdir())  # the user's folder, left empty
    code, _ = _calibrate(_write(tmp_path, EIGHT), "--out", str(tmp_path / "new" / "cal"))
    assert code == 1 and not (tmp_path / "new").exists()


def test_the_flattest_parameter_is_named_by_curvature_and_by_a_broken_likelihood() -> None:
    """A negative curvature is no maximum (named before a flat one); a parameter whose
    perturbation gives no finite likelihood poisons its row and column, and is the one named."""
    from experiments.calibration.likelihood import _flattest

    params = [FitParam(name, 0.05, 2.0, True) for name in ("r", "a", "b")]
    assert _flattest(params, np.diag([2.0, 1e-9, 3.0])) == "a"
    assert _flattest(params, np.diag([2.0, 1e-9, -3.0])) == "b"
    assert _flattest(params, np.diag([-2.0, 0.0, 3.0])) == "r"
    broken = np.diag([2.0, 1.0, np.nan])
    broken[2, :] = broken[:, 2] = np.nan
    assert _flattest(params, broken) == "b"


@pytest.mark.parametrize("option", ["--draws", "--noise-replicates"])
def test_no_posterior_draws_or_noise_replicates_is_refused(tmp_path: Path, option: str) -> None:
    """--draws 0 was accepted, and forecasts then said there was no posterior."""
    out = tmp_path / "cal"
    code, lines = _calibrate(_write(tmp_path, EIGHT), "--out", str(out), option, "0")
    assert code == 2 and lines == [f"{option} 0: must be >= 1, e.g. 200 posterior draws and "
                                   "16 noise replicates (the defaults)"]
    assert not out.exists()
