"""sweep / sensitivity / optimize refuse bad options before any work: one line naming the option
and the text as typed, exit 2, nothing written, no simulation run and no scenario notes printed;
output metrics must be ones the scenario produces; --help and hints name only forms the command
takes."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

import sim
from experiments.cli import sweep_cli
from experiments.runs import point
from experiments.runs.executors import check_executor
from experiments.runs.produced import check_metrics, point_outputs, produced_metrics, providers
from sim.errors import InputError
from sim.scenario import load_scenario
from tests.conftest import ROOT
from tests.experiments.runs.test_sweep import REFERENCE, invoke

COLD = str(ROOT / "scenarios" / "cold_start.yaml")
TINY = ["market.size=2000", "--days", "10"]  # cold_start at this size prints notes and warnings
GIFT = "mechanics.gift.value"


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any simulation at all fails the test: the refusals must come before any work."""
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a simulation ran")

    monkeypatch.setattr(point, "simulate", refuse)


def _refused(tmp_path: Path, *args: str) -> str:
    """stderr of a command that must be refused in one line, with nothing written."""
    done = invoke(*args, "--out", str(tmp_path / "runs"))
    assert done.exit_code == 2, done.output
    assert done.stderr.count("\n") == 1, done.stderr  # no notes, warnings or progress
    assert "Traceback" not in done.output and not (tmp_path / "runs").exists()
    return done.stderr.strip()


@pytest.mark.parametrize("args, line", [
    (["sweep", COLD, *TINY, "-p", f"{GIFT}=0:30:0"],
     f"--param {GIFT}=0:30:0: the step must not be 0; e.g. 0:30:5"),
    (["sweep", COLD, *TINY, "-p", f"{GIFT}=30:0:5"],
     f"--param {GIFT}=30:0:5: the step 5 goes away from 0; use step -5, e.g. 30:0:-5"),
    (["sweep", COLD, *TINY, "-p", f"{GIFT}=0..30"],
     f"--param {GIFT}=0..30: a grid takes a list or a range, not bounds; e.g. {GIFT}=0:30:5, "
     "or sample the bounds with --design lhs --points N"),
    (["sweep", COLD, *TINY, "-p", f"{GIFT}=0:30:10", "-p", f"{GIFT}=1,2"],
     f"--param {GIFT}=1,2: {GIFT} is given twice (also --param {GIFT}=0:30:10); give each "
     "parameter once"),
    (["sweep", COLD, *TINY, "-p", f"{GIFT}=5,10,20", "--design", "lhs", "--points", "4"],
     f"--param {GIFT}=5,10,20: --design lhs samples numbers within bounds lo..hi; e.g. "
     f"{GIFT}=5..20"),
    (["sweep", COLD, *TINY, "-p", f"{GIFT}=0:30:10", "--executor", "foo"],
     "--executor foo: unknown executor; expected serial, processes:2, dask-local:2 or "
     "dask://HOST:8786"),
    (["sensitivity", COLD, *TINY, "-p", f"{GIFT}=0..30", "--executor", "processes:0"],
     "--executor processes:0: the worker count must be a whole number >= 1"),
    (["sensitivity", COLD, *TINY, "-p", f"{GIFT}=0..30", "--method", "fast"],
     "--method fast: unknown method; expected one of: morris, sobol, both"),
    (["optimize", COLD, *TINY, "--maximize", "gmv", "-p", f"{GIFT}=0..30", "--trials", "0"],
     "--trials 0: must be >= 1, e.g. 4"),
    (["optimize", COLD, *TINY, "--maximize", "gmv", "-p", f"{GIFT}=0..30", "--constraint",
      "gmv=5"], '--constraint gmv=5: expected metric<=value or metric>=value'),
])
def test_a_bad_option_is_one_line_naming_it_before_any_note(
        tmp_path: Path, no_simulation: None, args: list[str], line: str) -> None:
    assert _refused(tmp_path, *args).startswith(line)


@pytest.mark.parametrize("args, line", [
    (["sensitivity", COLD, *TINY, "-p", "mechanics.funnel.login=one_click,form"],
     "--param mechanics.funnel.login=one_click,form: sensitivity takes numeric bounds lo..hi "
     "only, and mechanics.funnel.login is not a number ('one_click'); compare its choices with "
     "simctl sweep SCENARIO --param mechanics.funnel.login=one_click,form"),
    (["sensitivity", COLD, *TINY, "-p", f"{GIFT}=5,10"],
     f"--param {GIFT}=5,10: sensitivity takes bounds lo..hi; e.g. {GIFT}=5..10"),
    (["sensitivity", COLD, *TINY, "-p", f"{GIFT}=5:30:5"],
     f"--param {GIFT}=5:30:5: sensitivity takes bounds lo..hi; e.g. {GIFT}=5..30"),
    (["sensitivity", COLD, *TINY, "-p", f"{GIFT}=5"],  # one value: around the scenario's 10
     f"--param {GIFT}=5: sensitivity takes bounds lo..hi; e.g. {GIFT}=5..20"),
])
def test_values_where_bounds_are_wanted_get_a_hint_that_fits_the_field(
        tmp_path: Path, no_simulation: None, args: list[str], line: str) -> None:
    said = _refused(tmp_path, *args)
    assert said == line
    assert "0.1..0.5" not in said


@pytest.mark.parametrize("args, where, source", [
    (["optimize", COLD, "market.size=2000", "--days", "20", "--maximize", "live_gmv",
      "-p", f"{GIFT}=0..30", "--trials", "4"], "--maximize live_gmv", "a live_stream mechanic"),
    (["sensitivity", REFERENCE, "market.size=2000", "--days", "10",
      "-p", "mechanics.acquisition.q=0.1..0.3", "--method", "morris", "--points", "4",
      "--outputs", "gmv,referred_users"], "--outputs referred_users", "a referral mechanic"),
    (["optimize", REFERENCE, "market.size=2000", "--days", "10", "--maximize", "gmv",
      "--constraint", "referred_users>=3", "-p", "mechanics.acquisition.q=0.1..0.3"],
     "--constraint referred_users>=3", "a referral mechanic"),
])
def test_an_output_the_scenario_cannot_produce_is_refused_before_any_run(
        tmp_path: Path, no_simulation: None, args: list[str], where: str, source: str) -> None:
    """It used to run every simulation, then blame a zero denominator (optimize) or print an
    empty table with exit 0 (sensitivity)."""
    said = _refused(tmp_path, *args)
    metric = where.split()[1].split(">")[0]
    assert said.startswith(f"{where}: no mechanic of ")
    assert f"records {metric} (it comes from {source})" in said
    offered = said.partition("this scenario produces: ")[2].split(", ")
    assert "gmv" in offered and metric not in offered and "live_gmv" not in offered


def test_unknown_metrics_are_offered_only_what_the_scenario_produces(
        tmp_path: Path, no_simulation: None) -> None:
    said = _refused(tmp_path, "sensitivity", REFERENCE, *TINY, "-p",
                    "mechanics.acquisition.q=0.1..0.3", "--outputs", "gmvv")
    assert said.startswith("--outputs gmvv: unknown metric 'gmvv' (did you mean 'gmv'?)")
    offered = said.partition("this scenario produces: ")[2].split(", ")
    reference = load_scenario(REFERENCE, ["market.size=2000"])
    assert offered == point_outputs(reference) and "live_gmv" not in offered


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml")))
def test_produced_metrics_are_the_metrics_a_run_has(name: str) -> None:
    """What the checks offer is exactly what a run of the scenario tabulates (a metric whose
    counters no mechanic records is left out of the run's tables)."""
    try:
        scenario = load_scenario(ROOT / "scenarios" / name, ["market.size=2000", "days=7"])
    except InputError:  # cdnow replays 23,570 arrivals over its own horizon
        scenario = load_scenario(ROOT / "scenarios" / name)
    ran = set(sim.run(scenario.model_copy(update={"replicates": 1})).metrics.columns)
    assert sorted(ran - {"replicate", "day"}) == sorted(produced_metrics(scenario))


@pytest.mark.parametrize("name", ["reference.yaml", "growth.yaml"])
def test_cohort_metrics_are_outputs_where_a_point_has_them(name: str) -> None:
    """LTV, LTV/CAC, conversion and payback (and K-factor with referrals) are values of every
    sweep point, so optimize and sensitivity take them; each offered is one a point has."""
    scenario = load_scenario(ROOT / "scenarios" / name, ["market.size=2000", "days=96"])
    offered = point_outputs(scenario)
    cohort = offered[len(produced_metrics(scenario)):]
    assert {"ltv_cac_30d", "payback_days", "conversion_7d"} <= set(cohort)
    assert ("k_factor_30d" in cohort) == (name == "growth.yaml")
    assert set(offered) <= set(point.horizon_metrics(scenario, 0))
    check_metrics(["ltv_cac_90d", "gmv"], "--outputs", scenario)


def test_a_cohort_metric_the_horizon_is_too_short_for_is_refused() -> None:
    """ltv_cac_180d at 30 days had no value in any trial, said after every run as 'a ratio
    with nothing to divide by'; the first cohort week must be 180 days old."""
    short = load_scenario(REFERENCE, ["market.size=2000", "days=185"])
    with pytest.raises(InputError, match=r"^--outputs ltv_cac_180d: ltv_cac_180d counts cohorts "
                       r"at least 180 days old by the horizon, so it needs days >= 186 "
                       r"\(reference runs 185\)"):
        check_metrics(["ltv_cac_180d"], "--outputs", short)
    check_metrics(["ltv_cac_180d"], "--outputs", short.model_copy(update={"days": 186}))


def test_a_cohort_metric_without_its_event_names_the_mechanic() -> None:
    reference = load_scenario(REFERENCE, ["market.size=2000"])
    with pytest.raises(InputError, match=r"^--maximize k_factor_30d: no mechanic of reference "
                       r"records k_factor_30d \(it comes from a referral mechanic\)"):
        check_metrics(["k_factor_30d"], "--maximize", reference)


def test_a_ratio_that_may_be_undefined_is_still_accepted() -> None:
    """ROI exists in the reference scenario though it has no spend (no value in a run): that
    is said after the run, not refused."""
    reference = load_scenario(REFERENCE, ["market.size=2000"])
    check_metrics(["roi", "cac", "gmv"], "--outputs", reference)
    assert providers("private_label_share", reference) == "a catalogue mechanic"
    with pytest.raises(InputError, match="give at least one metric"):
        check_metrics([], "--outputs", reference)


def _param_help(command: typing.Callable[..., None]) -> str:
    hint = typing.get_type_hints(command, include_extras=True)["param"]
    return hint.__metadata__[0].help


def test_param_help_names_only_the_forms_each_command_takes() -> None:
    sweep = _param_help(sweep_cli.sweep)
    assert "5,10,20" in sweep and "5:30:5" in sweep and "lo..hi for --design lhs|sobol" in sweep
    sensitivity = _param_help(sweep_cli.sensitivity)
    assert "lo..hi" in sensitivity and "numeric" in sensitivity, sensitivity
    assert not any(form in sensitivity for form in ("list", "range", "5,10", ":30:")), sensitivity
    optimize = _param_help(sweep_cli.optimize)  # bounds, or choices: a list or a range
    assert all(form in optimize for form in ("lo..hi", "a,b,c", "5:30:5", "unordered")), optimize


def test_executor_specs_are_checked_without_starting_anything() -> None:
    assert check_executor("serial") == ("serial", 1)
    assert check_executor("processes:3") == ("processes", 3)
    with pytest.raises(InputError, match=r"^--executor dask://nohostport: expected dask://"):
        check_executor("dask://nohostport")


def test_an_accepted_command_still_prints_the_scenario_notes(tmp_path: Path) -> None:
    done = invoke("sweep", COLD, *TINY, "-p", f"{GIFT}=0", "--out", str(tmp_path))
    assert done.exit_code == 0, done.output
    assert "note: mechanics.kol.posts.1: left out" in done.stderr
