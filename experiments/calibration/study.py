"""The optimiser: an Optuna study (CMA-ES, TPE) in SQLite that resumes and warm-starts, asked
and told in batches through the evaluator, or scipy's Nelder-Mead recording each evaluation in
the same study.

A study is kept only for what it can give back: an interrupted or failed call keeps its complete
trials for `--resume`, fails the trials it had asked (no trial stays RUNNING in the file), and a
study it created without one complete trial is deleted (`kept_if_complete`); the calibration
removes a study.db it created that holds no complete trial (`has_complete_trial`,
`remove_study_db`)."""

from __future__ import annotations

import contextlib
import math
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from experiments.calibration.objective import FitParam
from experiments.calibration.observed import Observed


def make_sampler(params: list[FitParam], seed: int, popsize: int | None,
                 source: list[optuna.trial.FrozenTrial] | None,
                 ) -> tuple[optuna.samplers.BaseSampler, str]:
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


def study_storage(folder: Path) -> optuna.storages.RDBStorage:
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
    """The most recently created other study with a complete trial, to warm-start from (one
    with only failed or waiting trials has nothing to teach)."""
    summaries = [s for s in optuna.get_all_study_summaries(storage, include_best_trial=True)
                 if s.study_name != name and s.best_trial is not None]
    if not summaries:
        return None
    latest = max(summaries, key=lambda s: (s.user_attrs.get("created", ""), s._study_id))
    return optuna.load_study(study_name=latest.study_name, storage=storage)


def has_complete_trial(out: Path) -> bool:
    """Whether out/study.db holds a complete trial of any study: something `--resume` (or a
    refit warm-started from it) can continue from."""
    path = out / "study.db"
    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=60)) as conn:
            found = conn.execute("SELECT 1 FROM trials WHERE state = 'COMPLETE' LIMIT 1")
            return found.fetchone() is not None
    except sqlite3.Error:  # no trials table yet: interrupted while the study was being made
        return False


def remove_study_db(out: Path) -> None:
    """Delete out/study.db with SQLite's side files (write-ahead log, shared memory)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        (out / f"study.db{suffix}").unlink(missing_ok=True)


@dataclass
class FitStudy:
    """The study of one observed data set, new, resumed or warm-started from the last one."""

    storage: optuna.storages.RDBStorage
    study: optuna.Study
    name: str
    resumed: bool
    sampler: optuna.samplers.BaseSampler
    method: str


def open_study(out: Path, observed: Observed, params: list[FitParam], seed: int,
               batch: int | None, optimizer: str) -> FitStudy:
    """The data set's study in out/study.db (named by a digest of the data): resumed if it
    exists; else new, warm-started from the latest other study (its trials teach CMA-ES, its
    best point is tried first)."""
    storage = study_storage(out)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"fit-{observed.fingerprint()}"
    existing = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    resumed = name in existing
    before = previous_study(storage, name) if not resumed else None
    source = ([t for t in before.trials if t.state == optuna.trial.TrialState.COMPLETE
               and set(t.params) == {p.path for p in params}] if before else [])
    sampler, method = make_sampler(params, seed, batch, source)
    if optimizer == "scipy":
        method = "scipy-nelder-mead"
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler,
                                direction="minimize", load_if_exists=True)
    if not resumed:
        try:
            _stamp_new(study, observed, before, params)
        except BaseException:  # interrupted while it is made: no half-made study stays
            with contextlib.suppress(Exception):
                optuna.delete_study(study_name=name, storage=storage)
            raise
    return FitStudy(storage, study, name, resumed, sampler, method)


def _stamp_new(study: optuna.Study, observed: Observed, before: optuna.Study | None,
               params: list[FitParam]) -> None:
    study.set_user_attr("created", datetime.now(UTC).isoformat())
    study.set_user_attr("days", observed.days)
    study.set_user_attr("source", Path(observed.source).name)
    if before is None:
        return
    study.set_user_attr("warm_start_from", before.study_name)
    try:
        best_before = before.best_trial.params
    except ValueError:
        best_before = {}
    if set(best_before) == {p.path for p in params}:
        study.enqueue_trial(best_before)


@contextlib.contextmanager
def kept_if_complete(fit: FitStudy) -> Iterator[None]:
    """Run trials of `fit`; if that is interrupted or fails, delete the study when this call
    created it and it has no complete trial (a resumed study is left as it was), and close
    the database either way."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            complete = fit.study.get_trials(deepcopy=False,
                                            states=(optuna.trial.TrialState.COMPLETE,))
            if not fit.resumed and not complete:
                optuna.delete_study(study_name=fit.name, storage=fit.storage)
        raise
    finally:
        fit.storage.engine.dispose()


def run_trials(fit: FitStudy, params: list[FitParam],
               objective: Callable[[list[dict[str, Any]]], list[float]], trials: int,
               batch: int | None, executor: Executor, optimizer: str) -> None:
    """`trials` more trials: Optuna ask/tell in batches (CMA-ES's population, --batch, or the
    executor's workers), or Nelder-Mead; a non-finite distance is a failed trial."""
    distributions = {p.path: p.distribution() for p in params}
    if optimizer != "optuna":
        scipy_fit(fit.study, params, distributions, objective, trials)
        return
    size = batch or getattr(fit.sampler, "_popsize", None) or max(2, executor_workers(executor))
    size = int(size) if size else 4
    made = 0
    while made < trials:
        asked: list[optuna.Trial] = []
        try:
            for _ in range(min(size, trials - made)):
                asked.append(fit.study.ask(distributions))
            values = objective([dict(t.params) for t in asked])
            for trial, value in zip(asked, values, strict=True):
                if math.isfinite(value):
                    fit.study.tell(trial, value)
                else:
                    fit.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except BaseException:  # interrupted or failed: no asked trial stays RUNNING
            for trial in asked:
                with contextlib.suppress(Exception):  # one already told is left as it is
                    fit.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        made += len(asked)


def executor_workers(executor: Executor) -> int:
    return int(getattr(executor, "workers", 1) or 1)


def scipy_fit(study: optuna.Study, params: list[FitParam],
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
        if not math.isfinite(value):  # a failed trial, as with Optuna's samplers: never best
            study.add_trial(optuna.trial.create_trial(
                params=point, distributions=distributions, state=optuna.trial.TrialState.FAIL))
            return 1e300
        study.add_trial(optuna.trial.create_trial(params=point, distributions=distributions,
                                                  value=value))
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
