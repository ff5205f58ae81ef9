"""Calibration: fit scenario parameters to observed daily metrics by the method of simulated
moments (MSM), with Optuna (CMA-ES) or scipy, a resumable SQLite study, and an approximate
posterior for forecasts.

Distance. Observed and simulated daily series of the target metrics are summed by week (flows;
stocks and ratios are averaged), on the observed days only (gaps are left out of both). Each
metric is standardised by its **observed scale** (the mean absolute weekly value), so a metric's
weight means the same whatever its unit:

    D(theta) = sum_m w_m * mean_k ((S_mk(theta) - O_mk) / s_m)^2 / sum_m w_m

where S is the mean over R replicates. Replicates use common random numbers: the scenario seed is
fixed and replicate r draws the same streams in every trial, so trials differ by parameters, not
luck. sqrt(D) is a relative root-mean-square error (0.1 = weekly values off by 10% of their
typical size).

Optimiser. Optuna ask/tell in batches through an executor; CMA-ES (`CmaEsSampler`, needs the
`cmaes` package) when it is installed and more than one parameter is fitted, TPE otherwise. The
study is stored in `study.db` in the calibration folder; one study per observed data set (named
by a digest of the data). Called again with the same data, the study resumes; with new data
(e.g. a longer file), a new study in the same database is warm-started: the previous best point
is evaluated first and CMA-ES learns its search distribution from the previous study's trials
(`source_trials`, WS-CMA-ES). `--optimizer scipy` minimises the same distance with Nelder-Mead in
the transformed box, recording every evaluation in the same study.

Posterior. A projected regression posterior, in the transformed parameters u (log for wide
positive ranges) with a flat prior on the box; pyabc is not needed. `stages` rounds of `design`
independent simulations (distinct replicate numbers, no CRN): a third at the current centre, the
rest N(centre, spread) in antithetic pairs. The first `stages - 1` rounds regress the
standardised weekly summaries s on u (Beaumont, Zhang & Balding 2002's regression idea):

    s ~ mu + J (u - centre)
    u_new = centre + (J'J)^-1 J' (o - mu)          (a Gauss-Newton step, trust-limited)

and size the next design as (2^2) x their sandwich variance. They also give the projection
A = (J'J)^-1 J', which maps the n summaries to p numbers on the parameters' scale (the
identity-weighted MSM estimating equation; Fearnhead & Prangle 2012's projected summaries). The
last round, independent of A, regresses t = A s on u (k = p + 1 coefficients, m runs):

    t ~ a + G (u - centre) + e,  e ~ N(0, S / nu),  nu = m - k
    p(u | o) ~ 1[u in box] * t_nu(A o; a + G (u - centre), S (1 + h) / nu)

with h = x'(X'X)^-1 x at the solution (the fitted line's error there). This is the sampling
distribution of the inverted regression: the observed data's own noise (the "1"), the line's
noise (h) and the estimated noise covariance (Student t), with nothing tuned. It is sampled by
importance sampling; intervals are weighted quantiles, draws a weighted resample. It replaced
(a) a finite-difference MSM sandwich under CRN that covered 25-50% (centred on the best trial,
noisy difference quotients) and (b) a sandwich on the full n-dimensional regression whose
slope-noise corrections made 4-parameter intervals 1.7x too wide (coverage 40/40). Measured
coverage: docs/calibration.md, benchmarks/bench_coverage.py. Cost: noise_replicates +
stages * design simulations (default design 12 (p + 2)).
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from experiments.calibration.fitted import write_fit
from experiments.calibration.likelihood import check_likelihood, maximum_likelihood
from experiments.calibration.objective import (
    Distance,
    FitParam,
    parse_fit,
    parse_targets,
    run_series,
    with_observed,
)
from experiments.calibration.observed import Observed
from experiments.calibration.rounds import regression_posterior
from experiments.calibration.study import (
    FitStudy,
    has_complete_trial,
    kept_if_complete,
    open_study,
    remove_study_db,
    run_trials,
    trials_frame,
)
from experiments.runs.design import Design, point_scenario, validate_design
from experiments.runs.outputs import json_safe
from experiments.runs.produced import produced_metrics
from sim.errors import InputError, Problem
from sim.scenario import Scenario

Progress = Callable[[int, int], None]


@dataclass
class Calibration:
    """What a calibration call produced (also written to summary.json)."""

    folder: Path
    study_name: str
    best: dict[str, float]
    distance: float
    trials: pd.DataFrame
    fitted: Scenario
    posterior: pd.DataFrame
    doc: dict[str, Any]


def default_design(parameters: int) -> int:
    """Simulations per posterior round unless --design says: 12 x (parameters + 2)."""
    return 12 * (parameters + 2)


def planned_simulations(trials: int, replicates: int, parameters: int, design: int | None,
                        stages: int, noise_replicates: int, draws: int) -> int:
    """How many simulations a calibration runs (for a progress bar): the trials, the
    replicates at the fit, the posterior rounds and one check of every kept draw."""
    return (trials * replicates + noise_replicates + draws
            + stages * (design or default_design(parameters)))


def calibrate(base: Scenario, observed: Observed, fit_texts: list[str], executor: Executor,
              out: Path, *, targets_text: str | None = None, trials: int = 40,
              replicates: int = 4, optimizer: str = "optuna", batch: int | None = None,
              noise_replicates: int = 16, draws: int = 200, design: int | None = None,
              stages: int = 3, check_fit: bool = True, method: str | None = None,
              progress: Progress | None = None) -> Calibration:
    """Fit, write the calibration folder (study.db + one sub-folder per observed data set).
    `method` msm (simulated moments, the default) or likelihood (`likelihood.py`); None:
    the scenario's calibration.method."""
    started = time.perf_counter()
    _check_options(trials, replicates, stages, design, optimizer, draws, noise_replicates)
    scenario, horizon_notes = with_observed(base, observed)
    observed = replace(observed, notes=[*observed.notes, *horizon_notes])
    declared = base.calibration
    params = parse_fit(scenario, fit_texts or (declared.fit if declared else []))
    targets = parse_targets(targets_text, observed, produced_metrics(scenario), params,
                            declared.targets if declared else None)
    distance = Distance(targets,
                        observed.daily.reindex(columns=list(targets)).to_numpy(dtype=float))
    out = Path(out)
    method = method or (declared.method if declared else "msm")
    if method == "likelihood":
        check_likelihood(scenario, params, observed)
    elif method != "msm":
        raise InputError([Problem("--method", None, "", f"{method!r}: expected msm or "
                                  "likelihood")])
    with _new_folder(out):
        if method == "likelihood":
            result = _by_likelihood(scenario, params, observed, distance, executor, out,
                                    noise_replicates, draws, started, progress)
        else:
            result = _by_msm(base.name, scenario, params, observed, distance, executor, out,
                             trials=trials, replicates=replicates, optimizer=optimizer,
                             batch=batch, noise_replicates=noise_replicates, draws=draws,
                             design=design, stages=stages, check_fit=check_fit,
                             started=started, progress=progress)
        observed.keep_salt()  # only now: a refused or failed fit leaves no id_salt behind
    return result


@contextmanager
def _new_folder(out: Path) -> Iterator[None]:
    """Make `out` for the fit; if the fit is refused, fails or is interrupted, remove what this
    call made (the folder with missing parents, or a study.db it created in a folder it found)
    unless study.db holds a complete trial to --resume from (an interrupted msm run)."""
    top = out
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    made, had_study = not out.exists(), (out / "study.db").exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        if not has_complete_trial(out):
            if made:
                shutil.rmtree(top, ignore_errors=True)
            elif not had_study:
                remove_study_db(out)
        raise


def _by_msm(name: str, scenario: Scenario, params: list[FitParam], observed: Observed,
            distance: Distance, executor: Executor, out: Path, *, trials: int, replicates: int,
            optimizer: str, batch: int | None, noise_replicates: int, draws: int,
            design: int | None, stages: int, check_fit: bool, started: float,
            progress: Progress | None) -> Calibration:
    """Simulated moments: the study's trials, then the regression posterior around the best."""
    targets = distance.targets
    fit = open_study(out, observed, params, scenario.seed % 2**31, batch, optimizer)
    objective = _objective(scenario, distance, executor, replicates, progress,
                           trials * replicates)
    with kept_if_complete(fit):
        run_trials(fit, params, objective, trials, batch, executor, optimizer)
        table = trials_frame(fit.study, params)
        best_trial = _best_trial(fit)
        study_doc = _study_doc(fit, out, observed)  # read before the database is closed
    best = {p.path: p.from_u(p.to_u(best_trial.params[p.path])) for p in params}
    fitted = point_scenario(scenario, best)
    posterior, fit_sims, post_doc = regression_posterior(
        fitted, params, best, distance, executor, table,
        design=design or default_design(len(params)), stages=stages,
        noise_replicates=noise_replicates, draws=draws, check_fit=check_fit)
    doc: dict[str, Any] = {
        "kind": "calibrate", "scenario": name, **study_doc,
        "targets": targets, "standardisation": "observed scale (mean absolute weekly value "
        "per metric)", "optimizer": fit.method, "trials_this_call": trials,
        "trials_in_study": len(table), "replicates": replicates, "best": best,
        "distance": float(best_trial.value),
        "relative_rmse": float(math.sqrt(max(best_trial.value, 0.0))),
        "posterior": post_doc, "notes": observed.notes,
        "wall_seconds": round(time.perf_counter() - started, 2)}
    folder = out / fit.name
    write_fit(folder, fitted, table, posterior, observed, distance, fit_sims, doc, params)
    doc["folder"] = str(folder)
    return Calibration(folder, fit.name, best, float(best_trial.value), table, fitted,
                       posterior, json_safe(doc))


def _best_trial(fit: FitStudy) -> optuna.trial.FrozenTrial:
    """The study's best trial; refused in one line when no trial has completed (every
    distance was NaN or infinite), so that nothing is kept."""
    try:
        return fit.study.best_trial
    except ValueError:
        raise InputError([Problem("--targets", None, "", f"no trial of {fit.name} completed: "
                                  "every simulated distance was NaN or infinite (a target the "
                                  "simulations leave undefined?)")]) from None


def _by_likelihood(scenario: Scenario, params: list[FitParam], observed: Observed,
                   distance: Distance, executor: Executor, out: Path, noise_replicates: int,
                   draws: int, started: float, progress: Progress | None) -> Calibration:
    """Maximum likelihood of the daily model, then `noise_replicates` simulations at the fit
    for the weekly fit table; the folder is the same as a simulated-moments calibration's."""
    best, posterior, post_doc = maximum_likelihood(scenario, params, observed.customers, draws,
                                                   scenario.seed % 2**31)
    fitted = point_scenario(scenario, best)
    total = max(noise_replicates, 1)
    done = iter(range(1, total + 1))
    sims = run_series(executor, [(fitted, r) for r in range(total)], distance.metrics,
                      None if progress is None else lambda *_: progress(next(done), total))
    value = float(distance(sims))
    post_doc["noise_replicates"] = len(sims)
    table = pd.DataFrame([{"trial": 0, "state": "COMPLETE", "distance": value, **best}])
    name = f"likelihood-{observed.fingerprint()}"
    doc: dict[str, Any] = {
        "kind": "calibrate", "scenario": scenario.name, "study": name, "study_db": None,
        "resumed": False, "warm_start_from": None, "observed": Path(observed.source).name,
        "observed_path": str(Path(observed.source).resolve()),
        "observed_start": str(observed.start.date()), "observed_days": observed.days,
        "targets": distance.targets, "method": "likelihood",
        "optimizer": "maximum likelihood (L-BFGS-B in the fitted scale)",
        "trials_this_call": 0, "trials_in_study": 1, "replicates": len(sims), "best": best,
        "distance": value, "relative_rmse": math.sqrt(max(value, 0.0)),
        "posterior": post_doc, "notes": observed.notes,
        "wall_seconds": round(time.perf_counter() - started, 2)}
    folder = out / name
    write_fit(folder, fitted, table, posterior, observed, distance, sims, doc, params)
    doc["folder"] = str(folder)
    return Calibration(folder, name, best, value, table, fitted, posterior, json_safe(doc))


def _check_options(trials: int, replicates: int, stages: int, design: int | None,
                   optimizer: str, draws: int, noise_replicates: int) -> None:
    if trials < 1 or replicates < 1:
        raise InputError([Problem("--trials", None, "", "--trials and --replicates must be >= 1")])
    for option, value in (("--draws", draws), ("--noise-replicates", noise_replicates)):
        if value < 1:  # 0 draws: forecasts would say "no posterior", which is not so
            raise InputError([Problem(f"{option} {value}", None, "", "must be >= 1, e.g. 200 "
                                      "posterior draws and 16 noise replicates (the defaults)")])
    if stages < 1 or (design is not None and design < 4):
        raise InputError([Problem("--stages", None, "", "--stages must be >= 1 and --design "
                                  ">= 4 (simulations per posterior round)")])
    if optimizer not in ("optuna", "scipy"):
        raise InputError([Problem("--optimizer", None, "", f"{optimizer!r}: expected optuna or "
                                  "scipy")])


def _objective(scenario: Scenario, distance: Distance, executor: Executor, replicates: int,
               progress: Progress | None, total: int,
               ) -> Callable[[list[dict[str, Any]]], list[float]]:
    """The distance of each point: the mean of `replicates` simulations with common random
    numbers, all points of a batch through the executor at once."""
    done = {"n": 0}

    def tick(*_: int) -> None:
        done["n"] += 1
        if progress:
            progress(done["n"], total)

    def distances(points: list[dict[str, Any]]) -> list[float]:
        scenarios = validate_design(scenario, Design("calibrate", [], points))
        jobs = [(s, r) for s in scenarios for r in range(replicates)]
        series = run_series(executor, jobs, distance.metrics, tick)
        return [distance(series[i * replicates:(i + 1) * replicates])
                for i in range(len(points))]

    return distances


def _study_doc(fit: FitStudy, out: Path, observed: Observed) -> dict[str, Any]:
    return {"study": fit.name, "study_db": str(out / "study.db"), "resumed": fit.resumed,
            "warm_start_from": fit.study.user_attrs.get("warm_start_from"),
            "observed": Path(observed.source).name,
            "observed_path": str(Path(observed.source).resolve()),
            "observed_start": str(observed.start.date()), "observed_days": observed.days}
