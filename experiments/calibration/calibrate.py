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

import json
import math
import sqlite3
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from experiments.calibration.observed import Observed, default_targets
from experiments.runs.design import Design, ParamSpec, point_scenario, validate_design
from experiments.runs.folders import atomic_folder
from experiments.runs.outputs import _json_safe
from experiments.runs.sensitivity import bounds_specs
from experiments.runs.sweep import page
from sim.engine import CORE_CHANNEL_EVENTS, CORE_EVENTS, CORE_STOCKS, daily_table, simulate
from sim.errors import InputError, Problem
from sim.mechanics import REGISTRY
from sim.mechanics.observed_arrivals import arrival_problems
from sim.metrics import METRICS, available, daily_metrics
from sim.scenario import Scenario

Progress = Callable[[int, int], None]
WEEK = 7
FITTED = "fitted.yaml"
POSTERIOR = "posterior.parquet"
SUMMARY = "summary.json"
DESIGN_WIDTH = 2.0  # design sd / posterior sd in the next round (slopes vs curvature)
TRUST = 1.5  # longest Gauss-Newton step, in design standard deviations


# --- parameters and targets ----------------------------------------------------------------------


@dataclass(frozen=True)
class FitParam:
    """A fitted parameter: bounds, and whether it is searched on a log scale (wide positive
    ranges: a ratio hi/lo of 10 or more)."""

    path: str
    low: float
    high: float
    log: bool
    integer: bool = False

    def to_u(self, value: float) -> float:
        return math.log(value) if self.log else value

    def from_u(self, u: float) -> float:
        value = math.exp(u) if self.log else u
        value = min(max(value, self.low), self.high)
        return round(value) if self.integer else float(value)

    @property
    def u_low(self) -> float:
        return self.to_u(self.low)

    @property
    def u_high(self) -> float:
        return self.to_u(self.high)

    def distribution(self) -> optuna.distributions.BaseDistribution:
        if self.integer:
            return optuna.distributions.IntDistribution(int(self.low), int(self.high),
                                                        log=self.log)
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)


def parse_fit(base: Scenario, texts: list[str]) -> list[FitParam]:
    """`--fit dotted.path=lo..hi` -> FitParam (validated against the scenario at both ends)."""
    if not texts:
        raise InputError([Problem("--fit", None, "", "give at least one --fit dotted.path="
                                  "lo..hi, e.g. mechanics.purchase.dropout.a=0.1..5")])
    specs: list[ParamSpec] = bounds_specs(base, texts, "calibrate")
    return [FitParam(s.path, float(s.low), float(s.high),
                     bool(s.low > 0 and s.high / s.low >= 10), s.integer) for s in specs]


def parse_targets(text: str | None, observed: Observed, simulated: list[str]) -> dict[str, float]:
    """`metric:weight,...` (weight 1 if left out) -> {metric: weight}; default: every flow both
    observed and simulated (see experiments.calibration.observed.default_targets)."""
    if not text:
        targets = default_targets(observed, simulated)
        if not targets:
            raise InputError([Problem("--targets", None, "", "the observed data and the scenario "
                                      "share no flow metric to fit; give --targets metric:weight")])
        return targets
    targets: dict[str, float] = {}
    for item in text.split(","):
        name, _, raw = item.strip().partition(":")
        name = name.strip()
        if name not in METRICS:
            raise InputError([Problem("--targets", None, name, "unknown metric name; see "
                                      "docs/metrics.md")])
        if name not in observed.metrics:
            raise InputError([Problem("--targets", None, name, f"not in the observed data "
                                      f"{observed.source} (it has {', '.join(observed.metrics)})")])
        if name not in simulated:
            raise InputError([Problem("--targets", None, name, "the scenario's mechanics do not "
                                      "produce this metric")])
        try:
            weight = float(raw) if raw.strip() else 1.0
        except ValueError:
            weight = -1.0
        if not weight > 0 or not math.isfinite(weight):
            raise InputError([Problem("--targets", None, name, f"weight {raw!r} must be a "
                                      "number > 0, e.g. repeat_purchases:1")])
        targets[name] = weight
    return targets


def simulated_metrics(scenario: Scenario) -> list[str]:
    """Metrics this scenario's mechanics produce (from the counters they declare)."""
    names = [*CORE_EVENTS, *CORE_CHANNEL_EVENTS, *CORE_STOCKS]
    for params in scenario.mechanics.values():
        cls = REGISTRY[params.type][1]
        names += [*cls.events, *cls.channel_events, *cls.stocks]
    names += [f"{n}_amount" for n in list(names)]
    return [m.name for m in available(list(dict.fromkeys(names)))]


def with_observed(base: Scenario, observed: Observed) -> Scenario:
    """The scenario over the observed days, with any observed_arrivals mechanic replaying the
    observed new users (by channel when the data name channels)."""
    data = base.model_dump(mode="python")
    data["days"] = observed.days
    problems: list[Problem] = []
    for name, params in base.mechanics.items():
        if params.type != "observed_arrivals":
            continue
        if not observed.arrivals:
            problems.append(base.problem(("mechanics", name), f"{observed.source} has no "
                                         "new_users to replay; add a new_users column"))
            continue
        mech = data["mechanics"][name]
        if len(observed.arrivals) == 1:
            mech["counts"] = [int(v) for v in next(iter(observed.arrivals.values()))]
            mech["by_channel"] = {}
        else:
            mech["counts"] = []
            mech["by_channel"] = {ch: [int(v) for v in c] for ch, c in observed.arrivals.items()}
    if problems:
        raise InputError(problems)
    scenario = point_scenario(base, {}, data)
    for name, params in scenario.mechanics.items():
        if params.type == "observed_arrivals":
            problems += [base.problem(path, message) for path, message in arrival_problems(
                params, name, scenario.market.size, scenario.days)]
    if problems:
        raise InputError(problems)
    return scenario


# --- the distance -----------------------------------------------------------------------------


def weekly(values: np.ndarray, mask: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """(days, m) -> (weeks, m): sums of flows, means of the rest, over the masked days."""
    days = values.shape[0]
    starts = np.arange(0, days, WEEK)
    v = np.where(mask, values, 0.0)
    sums = np.add.reduceat(v, starts, axis=0)
    n = np.add.reduceat(mask.astype(float), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / n
    out = np.where(flows[None, :], sums, means)
    return np.where(n > 0, out, np.nan)


@dataclass
class Distance:
    """Observed weekly summaries and how far a simulated series is from them."""

    targets: dict[str, float]
    observed: np.ndarray  # (days, m) observed daily values, NaN = gap
    mask: np.ndarray = field(init=False)
    flows: np.ndarray = field(init=False)
    obs_weekly: np.ndarray = field(init=False)
    scale: np.ndarray = field(init=False)
    weights: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        names = list(self.targets)
        self.mask = ~np.isnan(self.observed)
        self.flows = np.array([METRICS[m].kind == "flow" for m in names])
        self.obs_weekly = weekly(np.nan_to_num(self.observed), self.mask, self.flows)
        scale = np.nanmean(np.abs(self.obs_weekly), axis=0)
        self.scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.weights = np.array([self.targets[m] for m in names]) / sum(self.targets.values())

    @property
    def metrics(self) -> list[str]:
        return list(self.targets)

    def summaries(self, sim_daily: np.ndarray) -> np.ndarray:
        """Standardised weekly summaries of one simulated (days, m) series, flattened so that
        the distance is a plain sum of squares (the vector the posterior works with)."""
        sim = weekly(np.nan_to_num(sim_daily[: self.mask.shape[0]]), self.mask, self.flows)
        ok = ~np.isnan(self.obs_weekly)
        per_week = np.sqrt(self.weights / ok.sum(axis=0).clip(min=1))
        return ((np.nan_to_num(sim) / self.scale) * per_week)[ok]

    def observed_summaries(self) -> np.ndarray:
        ok = ~np.isnan(self.obs_weekly)
        per_week = np.sqrt(self.weights / ok.sum(axis=0).clip(min=1))
        return ((np.nan_to_num(self.obs_weekly) / self.scale) * per_week)[ok]

    def __call__(self, sims: list[np.ndarray]) -> float:
        mean = np.mean([self.summaries(s) for s in sims], axis=0)
        return float(np.sum((mean - self.observed_summaries()) ** 2))


def simulate_series(scenario: Scenario, replicate: int, metrics: list[str]) -> np.ndarray:
    """One replicate's daily values of `metrics` as a (days, m) array (a picklable task)."""
    frame = daily_metrics(daily_table(simulate(scenario, replicate)))
    return np.column_stack([frame[m].to_numpy(dtype=float) if m in frame
                            else np.full(len(frame), np.nan) for m in metrics])


def run_series(executor: Executor, jobs: list[tuple[Scenario, int]],
               metrics: list[str], tick: Callable[[], None] | None = None) -> list[np.ndarray]:
    """Simulate (scenario, replicate) jobs through the executor, results in job order."""
    futures = [executor.submit(simulate_series, s, r, metrics) for s, r in jobs]
    out = []
    for future in futures:
        out.append(future.result())
        if tick:
            tick()
    return out


# --- the study -----------------------------------------------------------------------------------


def _sampler(params: list[FitParam], seed: int, popsize: int | None,
             source: list[optuna.trial.FrozenTrial] | None) -> tuple[optuna.samplers.BaseSampler,
                                                                     str]:
    """CMA-ES when `cmaes` is installed and there are >= 2 parameters; TPE otherwise."""
    if len(params) >= 2:
        try:
            import cmaes  # noqa: F401
        except ImportError:
            pass
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                sampler = optuna.samplers.CmaEsSampler(
                    seed=seed, popsize=popsize, source_trials=source or None,
                    n_startup_trials=0, warn_independent_sampling=False)
            return sampler, "cmaes" + ("-warm" if source else "")
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(8, 4 * len(params))), "tpe"


def _storage(folder: Path) -> optuna.storages.RDBStorage:
    """SQLite in WAL mode with synchronous=NORMAL: Optuna commits several times per trial, and a
    full fsync per commit cost more than a small simulation. A crash can lose the last trials,
    never corrupt the study (SQLite's WAL guarantee); readers in other processes still work."""
    path = folder / "study.db"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return optuna.storages.RDBStorage(f"sqlite:///{path}", engine_kwargs={"creator": connect})


def previous_study(storage: optuna.storages.RDBStorage, name: str) -> optuna.Study | None:
    """The most recently created other study with a finished trial, to warm-start from."""
    summaries = [s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
                 if s.study_name != name and s.n_trials > 0]
    if not summaries:
        return None
    latest = max(summaries, key=lambda s: (s.user_attrs.get("created", ""), s._study_id))
    return optuna.load_study(study_name=latest.study_name, storage=storage)


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


def calibrate(base: Scenario, observed: Observed, fit_texts: list[str], executor: Executor,
              out: Path, *, targets_text: str | None = None, trials: int = 40,
              replicates: int = 4, optimizer: str = "optuna", batch: int | None = None,
              noise_replicates: int = 16, draws: int = 200, design: int | None = None,
              stages: int = 3, check_fit: bool = True,
              progress: Progress | None = None) -> Calibration:
    """Fit, write the calibration folder (study.db + one sub-folder per observed data set)."""
    started = time.perf_counter()
    if trials < 1 or replicates < 1:
        raise InputError([Problem("--trials", None, "", "--trials and --replicates must be >= 1")])
    if stages < 1 or (design is not None and design < 4):
        raise InputError([Problem("--stages", None, "", "--stages must be >= 1 and --design "
                                  ">= 4 (simulations per posterior round)")])
    if optimizer not in ("optuna", "scipy"):
        raise InputError([Problem("--optimizer", None, "", f"{optimizer!r}: expected optuna or "
                                  "scipy")])
    scenario = with_observed(base, observed)
    params = parse_fit(scenario, fit_texts)
    targets = parse_targets(targets_text, observed, simulated_metrics(scenario))
    metrics = list(targets)
    distance = Distance(targets, observed.daily.reindex(columns=metrics).to_numpy(dtype=float))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    storage = _storage(out)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"fit-{observed.fingerprint()}"
    existing = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    resumed = name in existing
    before = previous_study(storage, name) if not resumed else None
    source = ([t for t in before.trials if t.state == optuna.trial.TrialState.COMPLETE
               and set(t.params) == {p.path for p in params}] if before else [])
    sampler, method = _sampler(params, scenario.seed % 2**31, batch, source)
    if optimizer == "scipy":
        method = "scipy-nelder-mead"
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler,
                                direction="minimize", load_if_exists=True)
    if not resumed:
        study.set_user_attr("created", datetime.now(UTC).isoformat())
        study.set_user_attr("days", observed.days)
        study.set_user_attr("source", Path(observed.source).name)
        if before is not None:
            study.set_user_attr("warm_start_from", before.study_name)
            try:
                best_before = before.best_trial.params
            except ValueError:
                best_before = {}
            if set(best_before) == {p.path for p in params}:
                study.enqueue_trial(best_before)
    done = {"n": 0}
    total = trials * replicates

    def tick() -> None:
        done["n"] += 1
        if progress:
            progress(done["n"], total)

    def evaluate(points: list[dict[str, Any]]) -> list[float]:
        scenarios = validate_design(scenario, Design("calibrate", [], points))
        jobs = [(s, r) for s in scenarios for r in range(replicates)]
        series = run_series(executor, jobs, metrics, tick)
        return [distance(series[i * replicates:(i + 1) * replicates])
                for i in range(len(points))]

    distributions = {p.path: p.distribution() for p in params}
    if optimizer == "optuna":
        size = batch or getattr(sampler, "_popsize", None) or max(2, executor_workers(executor))
        size = int(size) if size else 4
        made = 0
        while made < trials:
            asked = [study.ask(distributions) for _ in range(min(size, trials - made))]
            points = [dict(t.params) for t in asked]
            for trial, value in zip(asked, evaluate(points), strict=True):
                if math.isfinite(value):
                    study.tell(trial, value)
                else:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
            made += len(asked)
    else:
        _scipy_fit(study, params, distributions, evaluate, trials)

    table = trials_frame(study, params)
    best_trial = study.best_trial
    best = {p.path: p.from_u(p.to_u(best_trial.params[p.path])) for p in params}
    fitted = point_scenario(scenario, best)
    posterior, fit_sims, post_doc = regression_posterior(
        fitted, params, best, distance, executor, table,
        design=design or 12 * (len(params) + 2), stages=stages,
        noise_replicates=noise_replicates, draws=draws, check_fit=check_fit)
    doc: dict[str, Any] = {
        "kind": "calibrate", "scenario": base.name, "study": name, "study_db": str(out /
                                                                                   "study.db"),
        "resumed": resumed, "warm_start_from": study.user_attrs.get("warm_start_from"),
        "observed": Path(observed.source).name, "observed_start": str(observed.start.date()),
        "observed_days": observed.days, "targets": targets, "standardisation": "observed scale "
        "(mean absolute weekly value per metric)", "optimizer": method,
        "trials_this_call": trials, "trials_in_study": len(table), "replicates": replicates,
        "best": best, "distance": float(best_trial.value),
        "relative_rmse": float(math.sqrt(max(best_trial.value, 0.0))),
        "posterior": post_doc, "notes": observed.notes,
        "wall_seconds": round(time.perf_counter() - started, 2)}
    folder = out / name
    _write_atomic(folder, lambda f: _write_outputs(f, fitted, table, posterior, observed,
                                                   distance, fit_sims, doc, params))
    storage.engine.dispose()
    doc["folder"] = str(folder)
    return Calibration(folder, name, best, float(best_trial.value), table, fitted, posterior,
                       _json_safe(doc))


def executor_workers(executor: Executor) -> int:
    return int(getattr(executor, "workers", 1) or 1)


def _scipy_fit(study: optuna.Study, params: list[FitParam],
               distributions: dict[str, optuna.distributions.BaseDistribution],
               evaluate: Callable[[list[dict[str, Any]]], list[float]], trials: int) -> None:
    """Nelder-Mead on the unit box of the transformed parameters, from the study's best point
    (or the centre); each evaluation becomes a trial of the study."""
    from scipy import optimize

    lo = np.array([p.u_low for p in params])
    hi = np.array([p.u_high for p in params])
    try:
        start = np.array([(p.to_u(study.best_trial.params[p.path]) - a) / (b - a)
                          for p, a, b in zip(params, lo, hi, strict=True)])
    except ValueError:
        start = np.full(len(params), 0.5)
    count = {"n": 0}

    def objective(z: np.ndarray) -> float:
        if count["n"] >= trials:
            return 1e300
        count["n"] += 1
        point = {p.path: p.from_u(a + (b - a) * float(np.clip(v, 0, 1)))
                 for p, a, b, v in zip(params, lo, hi, z, strict=True)}
        value = evaluate([point])[0]
        study.add_trial(optuna.trial.create_trial(params=point, distributions=distributions,
                                                  value=value if math.isfinite(value) else 1e300))
        return value

    simplex = np.vstack([start] + [np.clip(start + 0.15 * np.eye(len(params))[i]
                                           * np.where(start > 0.8, -1, 1), 0, 1)
                                   for i in range(len(params))])
    optimize.minimize(objective, start, method="Nelder-Mead", bounds=list(zip(
        np.zeros(len(params)), np.ones(len(params)), strict=True)),
        options={"maxfev": trials, "initial_simplex": simplex, "xatol": 1e-3, "fatol": 1e-6})


def trials_frame(study: optuna.Study, params: list[FitParam]) -> pd.DataFrame:
    rows = [{"trial": t.number, **{p.path: t.params.get(p.path) for p in params},
             "distance": t.value, "state": t.state.name} for t in study.trials]
    return pd.DataFrame(rows)


# --- the posterior -------------------------------------------------------------------------------


def regression_posterior(fitted: Scenario, params: list[FitParam], best: dict[str, float],
                         distance: Distance, executor: Executor, trials: pd.DataFrame, *,
                         design: int, stages: int, noise_replicates: int, draws: int,
                         check_fit: bool = True,
                         ) -> tuple[pd.DataFrame, list[np.ndarray], dict[str, Any]]:
    """Projected regression posterior (module docstring): `stages - 1` Gauss-Newton rounds of
    `design` independent simulations find the centre, the design spread and the projection
    A = (J'J)^-1 J'; a last, independent round regresses the projected summaries A s on the
    parameters, and the posterior is the regression's exact predictive (multivariate t) times a
    flat prior on the transformed box, sampled by importance sampling. Also returns replicates at
    the fit (the report's bands)."""
    lo = np.array([p.u_low for p in params])
    hi = np.array([p.u_high for p in params])
    width = hi - lo
    u_hat = np.array([p.to_u(best[p.path]) for p in params])
    noise_jobs = [(fitted, 10_000 + r) for r in range(noise_replicates)]
    noise = run_series(executor, noise_jobs, distance.metrics) if noise_jobs else []
    centre, spread = u_hat, _trial_spread(trials, params, lo, hi)
    rng = np.random.default_rng(fitted.seed % 2**31 + 7)
    observed = distance.observed_summaries()
    rounds: list[dict[str, Any]] = []
    projection: np.ndarray | None = None
    for stage in range(stages):
        u = _design_points(centre, spread, design, rng, lo, hi)
        y = _simulate_design(fitted, params, distance, executor, u, 20_000 + stage * design)
        fit = _linear_round(u, y, centre, spread, observed)
        if stage == stages - 1:
            # a previous round's projection is independent of this round's noise, so the
            # regression below is exactly a regression (with one round, its own slopes serve)
            a = projection if projection is not None else fit["projection"]
            post = projected_posterior(u, y @ a.T, centre, a @ observed, lo, hi, rng)
        rounds.append({"centre": [p.from_u(float(v)) for p, v in zip(params, centre,
                                                                      strict=True)],
                       "design_sd_transformed": np.sqrt(np.diag(spread)).tolist(),
                       "posterior_sd_transformed": np.sqrt(np.diag(fit["cov"])).tolist(),
                       "residual_rms": fit["residual_rms"]})
        projection = fit["projection"]
        centre = np.clip(fit["mean"], lo, hi)
        spread = _clip_spread(DESIGN_WIDTH**2 * fit["cov"], width)
    mean, cov = post["mean"], post["cov"]
    picks = rng.choice(len(post["weights"]), size=draws, p=post["weights"])
    kept = post["samples"][picks]
    check: dict[str, Any] = {"simulations": 0}
    if check_fit and draws > 0:
        sims = _simulate_design(fitted, params, distance, executor, kept, 30_000)
        passed, q, threshold = check_draws(kept, sims @ a.T, a @ observed, post["noise_cov"],
                                           post["line"], post["df"],
                                           keep_at_least=max(2, draws // 10))
        check = {"simulations": draws, "kept": len(passed), "threshold_F": threshold,
                 "level": CHECK_LEVEL, "median_Q": float(np.median(q)),
                 "note": "posterior draws whose own simulation misses the data (projected "
                         "summaries outside the 99% predictive region) are not forecast from"}
        kept = passed[rng.choice(len(passed), size=draws, replace=len(passed) < draws)]
    frame = pd.DataFrame({p.path: [p.from_u(float(v)) for v in kept[:, i]]
                          for i, p in enumerate(params)})
    sd_u = np.sqrt(np.diag(cov))
    q = post["quantiles"]
    doc = {"method": "projected regression posterior (Gauss-Newton rounds, then the exact "
                     "predictive of a regression of A s on the transformed parameters, flat "
                     "prior on the box, importance sampling)",
           "draws": len(frame), "t_df": post["df"], "cov_transformed": cov.tolist(),
           "importance_ess": post["ess"], "noise_replicates": noise_replicates,
           "design": design, "stages": stages, "design_width": DESIGN_WIDTH, "rounds": rounds,
           "simulations": noise_replicates + stages * design + check["simulations"],
           "draw_check": check,
           "params": {p.path: {"estimate": best[p.path], "mean": p.from_u(float(mean[i])),
                               "scale": "log" if p.log else "linear",
                               "sd_transformed": float(sd_u[i]),
                               "interval90": [p.from_u(float(q[0.05][i])),
                                              p.from_u(float(q[0.95][i]))],
                               "interval50": [p.from_u(float(q[0.25][i])),
                                              p.from_u(float(q[0.75][i]))]}
                      for i, p in enumerate(params)}}
    return frame, noise, doc


def _trial_spread(trials: pd.DataFrame, params: list[FitParam], lo: np.ndarray,
                  hi: np.ndarray) -> np.ndarray:
    """First design covariance: the spread of the best quarter of the optimiser's trials (at
    least 2p + 2 of them) in transformed units, kept between 1% and 25% of each box width."""
    width = hi - lo
    ok = trials[trials["state"] == "COMPLETE"].sort_values("distance")
    k = max(2 * len(params) + 2, len(ok) // 4)
    top = ok.head(k)
    if len(top) >= len(params) + 2:
        u = np.column_stack([[p.to_u(v) for v in top[p.path]] for p in params])
        cov = np.atleast_2d(np.cov(u, rowvar=False))
    else:
        cov = np.diag(np.square(0.05 * width))
    return _clip_spread(cov, width)


def _clip_spread(cov: np.ndarray, width: np.ndarray, most: float = 0.25,
                 least: float = 0.01) -> np.ndarray:
    """Symmetric, positive definite, each sd between `least` and `most` of its box width."""
    cov = (cov + cov.T) / 2
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    target = np.clip(sd, least * width, most * width)
    corr = cov / np.outer(np.where(sd > 0, sd, 1), np.where(sd > 0, sd, 1))
    np.fill_diagonal(corr, 1.0)
    values, vectors = np.linalg.eigh(corr)
    corr = vectors @ np.diag(np.clip(values, 0.05, None)) @ vectors.T
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    return corr * np.outer(target, target)


def _design_points(centre: np.ndarray, spread: np.ndarray, design: int,
                   rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """`design` points: a third at the centre (their spread is pure simulation noise), the rest
    at N(centre, spread) in antithetic pairs, clipped to the box."""
    p = len(centre)
    at_centre_n = max(p + 2, design // 3)
    half = max((design - at_centre_n) // 2, p + 1)
    z = rng.standard_normal((half, p))
    chol = np.linalg.cholesky(spread)
    return np.vstack([np.repeat(centre[None, :], at_centre_n, axis=0),
                      np.clip(centre + np.vstack([z, -z]) @ chol.T, lo, hi)])


def _simulate_design(fitted: Scenario, params: list[FitParam], distance: Distance,
                     executor: Executor, u: np.ndarray, first_replicate: int) -> np.ndarray:
    """Standardised summaries (rows) of one independent simulation per design point."""
    jobs = [(point_scenario(fitted, {q.path: q.from_u(float(v)) for q, v in zip(params, row,
                                                                                strict=True)}),
             first_replicate + j) for j, row in enumerate(u)]
    return np.array([distance.summaries(s) for s in run_series(executor, jobs, distance.metrics)])


def _linear_round(u: np.ndarray, y: np.ndarray, centre: np.ndarray, spread: np.ndarray,
                  observed: np.ndarray) -> dict[str, Any]:
    """Regress the summaries on the transformed parameters: J, a trust-limited Gauss-Newton step
    towards the observed summaries, a sandwich covariance (it only sizes the next design) and
    the projection A = (J'J)^-1 J' the last round uses."""
    p = u.shape[1]
    at_centre = np.all(u == centre, axis=1)
    m = len(u)
    x = np.column_stack([np.ones(m), u - centre])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    jac = coef[1:].T  # (n, p)
    sigma = (np.atleast_2d(np.cov(y[at_centre], rowvar=False)) if at_centre.sum() > 2
             else np.atleast_2d(np.cov(y - x @ coef, rowvar=False)))
    xtx_inv = np.linalg.inv(x.T @ x)
    c_inv = xtx_inv[1:, 1:]  # slope block: Cov(vec J) = Sigma (x) c_inv
    gram = _debias(jac.T @ jac, np.trace(sigma) * c_inv)
    bread = np.linalg.inv(gram)
    gap = observed - coef[0]
    step = bread @ jac.T @ gap
    # trust region: the linear fit is only known where the design went
    reach = float(np.sqrt(step @ np.linalg.solve(spread, step)))
    if reach > TRUST:
        step *= TRUST / reach
    cov = bread @ (jac.T @ sigma @ jac) @ bread * (1.0 + xtx_inv[0, 0])
    cov = (cov + cov.T) / 2 + 1e-12 * np.eye(p)
    return {"mean": centre + step, "cov": cov, "projection": bread @ jac.T,
            "residual_rms": float(np.sqrt(np.mean(gap**2)))}


def _debias(raw: np.ndarray, bias: np.ndarray, keep: float = 0.5) -> np.ndarray:
    """raw - bias, but in no direction less than `keep` of raw: the subtraction is done in raw's
    own metric (raw^-1/2 bias raw^-1/2), so a weakly identified direction is never inflated
    against a strong one, and a noisy estimate of the bias cannot make the matrix singular."""
    raw = (raw + raw.T) / 2
    values, vectors = np.linalg.eigh(raw)
    root = vectors @ np.diag(np.sqrt(np.clip(values, 1e-300, None)))
    inv_root = np.linalg.pinv(root)
    rel = inv_root @ bias @ inv_root.T
    r_values, r_vectors = np.linalg.eigh((rel + rel.T) / 2)
    shrink = r_vectors @ np.diag(np.clip(1.0 - r_values, keep, 1.0)) @ r_vectors.T
    out = root @ shrink @ root.T
    return (out + out.T) / 2


PROPOSALS = 8_000  # importance-sampling draws per pass (cheap: no simulation)
PROPOSAL_DF = 5  # multivariate t proposal: heavier tails than the target's
ESS_WANTED = 1_500


def projected_posterior(u: np.ndarray, t: np.ndarray, centre: np.ndarray, t_obs: np.ndarray,
                        lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator,
                        ) -> dict[str, Any]:
    """Posterior of the transformed parameters given the projected observed summaries t_obs and
    a design (u, t) of independent simulations, under t = B'x(u) + e, x(u) = [1, u - centre],
    e ~ N(0, Sig). Inverting the fitted line at t_obs, the estimate's error is
    slope^-1 (e_obs - e_line) with Var = slope^-1 Sig slope^-T (1 + h), h = x'(X'X)^-1 x at the
    solution (the fitted line's own error there: intercept and slopes), and Sig estimated by
    S / nu, nu = m - k residual degrees of freedom. So

        p(u | t_obs, design) ~ 1[lo <= u <= hi] * t_nu(t_obs; B^'x(u), S (1 + h) / nu),

    each margin the Student t of a regression with estimated noise; the flat prior on the
    transformed box truncates it. h is held at the solution: letting it grow with |u - centre|
    (the full Bayesian predictive) gives the posterior tails no data set produces (measured on
    linear-Gaussian models: variance 1.6x the estimator's). Sampled by self-normalised
    importance sampling from a multivariate t proposal, refitted to the weighted draws until the
    effective sample size reaches ESS_WANTED."""
    m, p = u.shape
    x = np.column_stack([np.ones(m), u - centre])
    k = p + 1
    nu = m - k
    if nu < 3:
        raise InputError([Problem("--design", None, "", f"{m} simulations are too few for the "
                                  f"posterior with {p} parameters; give --design >= "
                                  f"{p + 4}")])
    coef, *_ = np.linalg.lstsq(x, t, rcond=None)  # (k, p)
    resid = t - x @ coef
    scale = (resid.T @ resid) / nu
    scale_inv = np.linalg.pinv(scale)
    xtx_inv = np.linalg.pinv(x.T @ x)
    slope = coef[1:].T  # t ~ a + slope (u - centre)
    slope_inv = np.linalg.pinv(slope)
    solution = np.clip(centre + slope_inv @ (t_obs - coef[0]), lo, hi)
    x0 = np.concatenate([[1.0], solution - centre])
    line = 1.0 + float(x0 @ xtx_inv @ x0)

    def log_target(points: np.ndarray) -> np.ndarray:
        r = t_obs - np.column_stack([np.ones(len(points)), points - centre]) @ coef
        q = np.einsum("ij,jk,ik->i", r, scale_inv, r) / line
        return -0.5 * (nu + p) * np.log1p(q / nu)

    width = hi - lo
    mean = solution
    cov = _clip_spread(4.0 * line * slope_inv @ scale @ slope_inv.T, width, most=0.5,
                       least=1e-4)
    ess, weights, points = 0.0, np.ones(1), mean[None, :]
    for _ in range(6):
        chol = np.linalg.cholesky(cov)
        z = rng.standard_normal((PROPOSALS, p))
        g = np.sqrt(rng.chisquare(PROPOSAL_DF, size=(PROPOSALS, 1)) / PROPOSAL_DF)
        points = mean + (z / g) @ chol.T
        inv_cov = np.linalg.inv(cov)
        d = points - mean
        log_q = -0.5 * (PROPOSAL_DF + p) * np.log1p(
            np.einsum("ij,jk,ik->i", d, inv_cov, d) / PROPOSAL_DF)
        inside = np.all((points >= lo) & (points <= hi), axis=1)
        log_w = np.where(inside, log_target(points) - log_q, -np.inf)
        log_w -= log_w.max()
        weights = np.exp(log_w)
        weights /= weights.sum()
        ess = float(1.0 / np.sum(weights**2))
        mean = weights @ points
        spread = np.atleast_2d(np.cov(points, rowvar=False, aweights=weights))
        cov = _clip_spread(1.5**2 * spread, width, most=0.5, least=1e-4)
        if ess >= ESS_WANTED:
            break
    post_mean = weights @ points
    post_cov = np.atleast_2d(np.cov(points, rowvar=False, aweights=weights))
    quantiles = {level: np.array([_weighted_quantile(points[:, i], weights, level)
                                  for i in range(p)]) for level in (0.05, 0.25, 0.75, 0.95)}
    return {"mean": post_mean, "cov": post_cov, "samples": points, "weights": weights,
            "quantiles": quantiles, "ess": ess, "df": nu, "noise_cov": scale, "line": line}


CHECK_LEVEL = 0.99  # a draw is kept if its simulated fit is inside this predictive region


def check_draws(candidates: np.ndarray, t_sim: np.ndarray, t_obs: np.ndarray,
                noise_cov: np.ndarray, line: float, df: int, keep_at_least: int,
                ) -> tuple[np.ndarray, np.ndarray, float]:
    """Keep the posterior draws whose own simulation fits the data (a posterior predictive check
    per draw). Under the regression model a draw u from the posterior has
    t_sim - t_obs = G (u - u_hat) + e_sim with covariance S (1 + h) + S = S (2 + h), so
    Q = r' (S (2 + h))^-1 r / p is about F(p, nu) and the 99% point rejects 1% of good draws
    (coverage of the intervals is untouched where the linear model holds). Where it does not
    (a curved ridge of weakly identified parameters: CDNOW's r, alpha, a, b), the linear
    posterior's draws leave the ridge and their simulations miss the data by many noise sd;
    those are dropped. If fewer than `keep_at_least` pass, the best-fitting ones are kept.
    Returns the kept draws, every draw's Q and the threshold."""
    from scipy import stats

    p = candidates.shape[1]
    resid = t_sim - t_obs
    inv = np.linalg.pinv(noise_cov * (2.0 + (line - 1.0)))
    q = np.einsum("ij,jk,ik->i", resid, inv, resid) / p
    threshold = float(stats.f.ppf(CHECK_LEVEL, p, max(df, 1)))
    keep = q <= threshold
    if keep.sum() < keep_at_least:
        keep = np.zeros(len(q), dtype=bool)
        keep[np.argsort(q)[:keep_at_least]] = True
    return candidates[keep], q, threshold


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, level: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    cum -= weights[order] / 2  # midpoints: the quantile of a step function, interpolated
    return float(np.interp(level, cum, values[order]))


def interval(doc: dict[str, Any], path: str, level: int = 90) -> tuple[float, float]:
    """The 90% (or 50%) interval of one parameter from a calibration summary."""
    lo, hi = doc["posterior"]["params"][path][f"interval{level}"]
    return float(lo), float(hi)


# --- outputs ------------------------------------------------------------------------------------


def _write_atomic(folder: Path, write: Callable[[Path], None]) -> None:
    """Write into a hidden sibling, then swap it in: a reader never sees half a folder."""
    with atomic_folder(folder, replace=True) as partial:
        write(partial)


def _write_outputs(folder: Path, fitted: Scenario, table: pd.DataFrame, posterior: pd.DataFrame,
                   observed: Observed, distance: Distance, sims: list[np.ndarray],
                   doc: dict[str, Any], params: list[FitParam]) -> None:
    (folder / FITTED).write_text(fitted.to_yaml(), "utf-8")
    table.to_parquet(folder / "trials.parquet", index=False)
    posterior.to_parquet(folder / POSTERIOR, index=False)
    observed.daily.reset_index().to_parquet(folder / "observed.parquet", index=False)
    if observed.customers is not None:  # pseudonymised ids only
        observed.customers.to_parquet(folder / "customers.parquet", index=False)
    weekly_fit = fit_table(distance, sims)
    weekly_fit.to_parquet(folder / "fit.parquet", index=False)
    (folder / SUMMARY).write_text(json.dumps(_json_safe(doc), indent=2), "utf-8")
    (folder / "report.html").write_text(fit_report(fitted, table, weekly_fit, doc, params),
                                        "utf-8")


def fit_table(distance: Distance, sims: list[np.ndarray]) -> pd.DataFrame:
    """Weekly observed vs simulated (mean, 5% and 95% across replicates at the fit)."""
    sim = np.array([weekly(np.nan_to_num(s[: distance.mask.shape[0]]), distance.mask,
                           distance.flows) for s in sims])
    rows = []
    for j, metric in enumerate(distance.metrics):
        for k in range(distance.obs_weekly.shape[0]):
            rows.append({"metric": metric, "week": k + 1,
                         "observed": distance.obs_weekly[k, j],
                         "sim_mean": float(np.mean(sim[:, k, j])),
                         "sim_q05": float(np.quantile(sim[:, k, j], 0.05)),
                         "sim_q95": float(np.quantile(sim[:, k, j], 0.95))})
    frame = pd.DataFrame(rows)
    frame["residual"] = frame["observed"] - frame["sim_mean"]
    return frame


def fit_report(fitted: Scenario, trials: pd.DataFrame, weekly_fit: pd.DataFrame,
               doc: dict[str, Any], params: list[FitParam]) -> str:
    """Observed vs simulated with bands, parameter traces over trials, residuals over time."""
    metrics = list(dict.fromkeys(weekly_fit["metric"]))
    fig = make_subplots(rows=len(metrics), cols=2, subplot_titles=[
        t for m in metrics for t in (f"{m}: observed vs simulated (weekly)",
                                     f"{m}: residual observed - simulated")])
    for i, m in enumerate(metrics, start=1):
        g = weekly_fit[weekly_fit["metric"] == m]
        fig.add_trace(go.Scatter(x=list(g["week"]) + list(g["week"][::-1]),
                                 y=list(g["sim_q95"]) + list(g["sim_q05"][::-1]), fill="toself",
                                 fillcolor="rgba(31,119,180,0.2)", line={"width": 0},
                                 name="simulated 90% band", showlegend=i == 1), row=i, col=1)
        fig.add_trace(go.Scatter(x=g["week"], y=g["sim_mean"], name="simulated mean",
                                 line={"color": "#1f77b4"}, showlegend=i == 1), row=i, col=1)
        fig.add_trace(go.Scatter(x=g["week"], y=g["observed"], name="observed", mode="markers",
                                 marker={"color": "#d62728"}, showlegend=i == 1), row=i, col=1)
        fig.add_trace(go.Bar(x=g["week"], y=g["residual"], marker_color="#888", showlegend=False),
                      row=i, col=2)
    fig.update_layout(height=330 * len(metrics), template="plotly_white")
    trace = make_subplots(rows=1, cols=len(params) + 1,
                          subplot_titles=[p.path.split(".", 2)[-1] for p in params]
                          + ["distance"])
    ok = trials[trials["state"] == "COMPLETE"]
    for i, p in enumerate(params, start=1):
        trace.add_trace(go.Scatter(x=ok["trial"], y=ok[p.path], mode="markers",
                                   marker={"size": 5}, showlegend=False), row=1, col=i)
    trace.add_trace(go.Scatter(x=ok["trial"], y=ok["distance"], mode="markers",
                               marker={"size": 5}, showlegend=False), row=1, col=len(params) + 1)
    trace.update_yaxes(type="log", row=1, col=len(params) + 1)
    trace.update_layout(height=320, template="plotly_white", title="Parameter traces over trials")
    intro = (f"Fitted {', '.join(p.path for p in params)} to {doc['observed']} "
             f"({doc['observed_days']} days from {doc['observed_start']}) on weekly "
             f"{', '.join(metrics)}, standardised by the observed scale; {doc['optimizer']}, "
             f"{doc['trials_in_study']} trials in study {doc['study']}"
             f"{' (resumed)' if doc['resumed'] else ''}"
             f"{', warm-started from ' + doc['warm_start_from'] if doc['warm_start_from'] else ''}"
             f"; {doc['replicates']} replicates per trial with common random numbers. Relative "
             f"RMSE at the fit {doc['relative_rmse']:.3f}. Bands: 90% of "
             f"{doc['posterior']['noise_replicates']} replicates at the fit (simulation noise).")
    post = pd.DataFrame([{"parameter": k, "estimate": v["estimate"],
                          "posterior mean": v["mean"],
                          "90% low": v["interval90"][0], "50% low": v["interval50"][0],
                          "50% high": v["interval50"][1], "90% high": v["interval90"][1]}
                         for k, v in doc["posterior"]["params"].items()])
    body = (fig.to_html(full_html=False, include_plotlyjs=False)
            + trace.to_html(full_html=False, include_plotlyjs=False)
            + "<h2>Approximate posterior (projected regression; 50% and 90% intervals)</h2>"
            + post.to_html(index=False, float_format=lambda v: f"{v:.5g}")
            + f"<h2>Fitted scenario</h2><pre>{_escape(fitted.to_yaml()[:4000])}</pre>")
    return page(f"Calibration: {fitted.name}", intro, body)


def _escape(text: str) -> str:
    import html

    return html.escape(text)
