"""An msm calibration stopped (Ctrl-C, a failure) before any trial completed leaves nothing
behind: no folder the command made, no study.db in a folder it found, no empty study in a
study.db it resumed; one stopped after complete trials keeps them for `--resume`, with no trial
left RUNNING."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.calibration import calibrate as calibrate_module
from experiments.calibration import study as study_module
from experiments.calibration.calibrate import calibrate
from experiments.calibration.observed import load_observed
from experiments.calibration.study import study_storage
from experiments.cli.commands import app
from experiments.runs.executors import make_executor
from sim.aggregation import daily_table
from sim.engine import simulate
from sim.errors import InputError
from sim.metrics import daily_metrics
from sim.scenario import Scenario
from tests.experiments.calibration.shops import shop_scenario

A = "mechanics.purchase.dropout.a"
QUICK = ["--fit", f"{A}=0.1..5", "--targets", "repeat_purchases", "--trials", "4",
         "--replicates", "1", "--batch", "2", "--design", "6", "--stages", "1", "--draws",
         "10", "--noise-replicates", "2", "--quiet"]


def synth(seed: int = 1) -> Scenario:
    return shop_scenario(seed, days=56, size=1000, arrivals=[80] * 10)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """The scenario, 56 observed days and the first 49 of them (a new data set: a refit)."""
    frame = daily_metrics(daily_table(simulate(synth(9), 0)))
    frame.insert(0, "date", pd.date_range("2025-01-01", periods=len(frame)).strftime("%Y-%m-%d"))
    columns = ["date", "new_users", "repeat_purchases"]
    frame[columns].to_csv(tmp_path / "obs.csv", index=False)
    frame[columns].iloc[:49].to_csv(tmp_path / "short.csv", index=False)
    (tmp_path / "s.yaml").write_text(synth().to_yaml())
    return {"scenario": tmp_path / "s.yaml", "obs": tmp_path / "obs.csv",
            "short": tmp_path / "short.csv"}


def stop_after(monkeypatch: pytest.MonkeyPatch, batches: int,
               error: BaseException | None = None) -> None:
    """The objective evaluates `batches` batches of trials, then raises `error` (Ctrl-C)."""
    real = calibrate_module._objective

    def objective(*args: Any, **kwargs: Any) -> Callable[[list[dict[str, Any]]], list[float]]:
        inner, calls = real(*args, **kwargs), {"n": 0}

        def distances(points: list[dict[str, Any]]) -> list[float]:
            calls["n"] += 1
            if calls["n"] > batches:
                raise error or KeyboardInterrupt
            return inner(points)

        return distances

    monkeypatch.setattr(calibrate_module, "_objective", objective)


def states(folder: Path) -> dict[str, list[str]]:
    """Each study in folder/study.db and its trials' states."""
    storage = study_storage(folder)
    try:
        return {s.study_name: [t.state.name for t in optuna.load_study(
            study_name=s.study_name, storage=storage).trials]
            for s in optuna.get_all_study_summaries(storage)}
    finally:
        storage.engine.dispose()


def run(files: dict[str, Path], *args: str, observed: str = "obs") -> Any:
    return CliRunner().invoke(app, ["calibrate", str(files["scenario"]), "--observed",
                                    str(files[observed]), *QUICK, *args])


def test_ctrl_c_at_the_first_trial_leaves_no_folder(files: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    stop_after(monkeypatch, 0)
    done = run(files, "--out", str(tmp_path / "new" / "cal"))
    assert done.exit_code == 130, done.output
    assert not (tmp_path / "new").exists()
    monkeypatch.chdir(tmp_path)  # the default folder, runs/calibrations/synth, goes too
    assert run(files).exit_code == 130 and not (tmp_path / "runs").exists()


def test_a_failure_at_the_first_trial_leaves_a_found_folder_as_it_was(
        files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stop_after(monkeypatch, 0, RuntimeError("a simulation failed"))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("the user's")
    done = run(files, "--out", str(mine))
    assert done.exit_code == 1 and "a simulation failed" in done.output
    assert sorted(p.name for p in mine.iterdir()) == ["keep.txt"]  # no study.db, no -wal


@pytest.mark.parametrize("optimizer", ["optuna", "scipy"])
def test_every_distance_undefined_is_refused_and_leaves_nothing(
        files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        optimizer: str) -> None:
    """Nelder-Mead (scipy) recorded an undefined distance as a complete trial worth 1e300 and
    wrote the box's centre as the fit; its failures are failed trials now, as Optuna's are."""
    monkeypatch.setattr(calibrate_module, "_objective",
                        lambda *_, **__: lambda points: [float("nan")] * len(points))
    with make_executor("serial") as pool, pytest.raises(InputError, match="no trial of fit-"):
        calibrate(synth(), load_observed(files["obs"]), [f"{A}=0.1..5"], pool,
                  tmp_path / "cal", targets_text="repeat_purchases", trials=2, replicates=1,
                  optimizer=optimizer)
    assert not (tmp_path / "cal").exists()


def test_ctrl_c_after_complete_trials_keeps_them_to_resume(
        files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "cal"
    stop_after(monkeypatch, 1)  # the first batch of 2 completes, the second is stopped
    assert run(files, "--out", str(out)).exit_code == 130
    (trials,) = states(out).values()
    assert trials == ["COMPLETE", "COMPLETE", "FAIL", "FAIL"]  # none left RUNNING
    monkeypatch.undo()
    resumed = run(files, "--out", str(out), "--resume", "--json")
    assert resumed.exit_code == 0, resumed.output
    doc = json.loads(resumed.stdout)
    assert doc["resumed"] is True and doc["trials_in_study"] == 8


def test_ctrl_c_in_a_refit_keeps_the_earlier_study_and_drops_the_empty_one(
        files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "cal"
    assert run(files, "--out", str(out), observed="short").exit_code == 0
    before = states(out)
    stop_after(monkeypatch, 0)
    assert run(files, "--out", str(out), "--resume").exit_code == 130  # new data: a new study
    assert states(out) == before
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("study.db")) \
        == list(before)  # the earlier fit's folder, nothing else


def test_ctrl_c_while_a_refit_makes_its_study_leaves_no_half_made_one(
        files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted between creating the new study and stamping it (its created date, the
    previous best enqueued): that study goes too, and a study with no complete trial is never
    the one a later refit warm-starts from."""
    out = tmp_path / "cal"
    assert run(files, "--out", str(out), observed="short").exit_code == 0
    before = states(out)

    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(study_module, "_stamp_new", interrupted)
    assert run(files, "--out", str(out), "--resume").exit_code == 130
    assert states(out) == before
    storage = study_storage(out)
    try:
        waiting = optuna.create_study(study_name="fit-waiting", storage=storage)
        waiting.set_user_attr("created", "9999-12-31")  # the latest, with a waiting trial only
        waiting.enqueue_trial({A: 1.0})
        assert study_module.previous_study(storage, "fit-new").study_name == next(iter(before))
    finally:
        storage.engine.dispose()
