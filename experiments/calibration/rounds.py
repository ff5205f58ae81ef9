"""The rounds of simulations the posterior is built from: Gauss-Newton rounds that find the
centre, the design spread and the projection A = (J'J)^-1 J' of the summaries, then a last
independent round for the projected posterior and the check of its draws."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

import numpy as np
import pandas as pd

from experiments.calibration.objective import Distance, FitParam, run_series
from experiments.calibration.posterior import (
    CHECK_LEVEL,
    check_draws,
    clip_spread,
    projected_posterior,
)
from experiments.runs.design import point_scenario
from sim.scenario import Scenario

DESIGN_WIDTH = 2.0  # design sd / posterior sd in the next round (slopes vs curvature)
TRUST = 1.5  # longest Gauss-Newton step, in design standard deviations


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
    noise_jobs = [(fitted, 10_000 + r) for r in range(noise_replicates)]
    noise = run_series(executor, noise_jobs, distance.metrics) if noise_jobs else []
    u_hat = np.array([p.to_u(best[p.path]) for p in params])
    spread = _trial_spread(trials, params, lo, hi)
    rng = np.random.default_rng(fitted.seed % 2**31 + 7)
    observed = distance.observed_summaries()
    post, a, rounds = _rounds(fitted, params, distance, executor, (u_hat, spread), (lo, hi),
                              design, stages, rng, observed)
    picks = rng.choice(len(post["weights"]), size=draws, p=post["weights"])
    kept = post["samples"][picks]
    check: dict[str, Any] = {"simulations": 0}
    if check_fit and draws > 0:
        kept, check = _checked_draws(fitted, params, distance, executor, kept, post, a,
                                     observed, rng)
    frame = pd.DataFrame({p.path: [p.from_u(float(v)) for v in kept[:, i]]
                          for i, p in enumerate(params)})
    doc = {"method": "projected regression posterior (Gauss-Newton rounds, then the exact "
                     "predictive of a regression of A s on the transformed parameters, flat "
                     "prior on the box, importance sampling)",
           "draws": len(frame), "t_df": post["df"], "cov_transformed": post["cov"].tolist(),
           "importance_ess": post["ess"], "noise_replicates": noise_replicates,
           "design": design, "stages": stages, "design_width": DESIGN_WIDTH, "rounds": rounds,
           "simulations": noise_replicates + stages * design + check["simulations"],
           "draw_check": check, "params": _param_doc(params, best, post)}
    return frame, noise, doc


def _rounds(fitted: Scenario, params: list[FitParam], distance: Distance, executor: Executor,
            start: tuple[np.ndarray, np.ndarray], box: tuple[np.ndarray, np.ndarray],
            design: int, stages: int, rng: np.random.Generator, observed: np.ndarray,
            ) -> tuple[dict[str, Any], np.ndarray, list[dict[str, Any]]]:
    """Every round from `start` (centre, spread): the posterior of the last, the projection it
    used, and what each round found."""
    lo, hi = box
    centre, spread = start
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
        spread = clip_spread(DESIGN_WIDTH**2 * fit["cov"], hi - lo)
    return post, a, rounds


def _checked_draws(fitted: Scenario, params: list[FitParam], distance: Distance,
                   executor: Executor, kept: np.ndarray, post: dict[str, Any], a: np.ndarray,
                   observed: np.ndarray, rng: np.random.Generator,
                   ) -> tuple[np.ndarray, dict[str, Any]]:
    """Simulate every draw once; resample the draws from those whose simulation fits."""
    draws = len(kept)
    sims = _simulate_design(fitted, params, distance, executor, kept, 30_000)
    passed, q, threshold = check_draws(kept, sims @ a.T, a @ observed, post["noise_cov"],
                                       post["line"], post["df"],
                                       keep_at_least=max(2, draws // 10))
    check = {"simulations": draws, "kept": len(passed), "threshold_F": threshold,
             "level": CHECK_LEVEL, "median_Q": float(np.median(q)),
             "note": "posterior draws whose own simulation misses the data (projected "
                     "summaries outside the 99% predictive region) are not forecast from"}
    return passed[rng.choice(len(passed), size=draws, replace=len(passed) < draws)], check


def _param_doc(params: list[FitParam], best: dict[str, float],
               post: dict[str, Any]) -> dict[str, Any]:
    """Per parameter: the optimiser's estimate, the posterior mean, sd and intervals."""
    mean, q = post["mean"], post["quantiles"]
    sd_u = np.sqrt(np.diag(post["cov"]))
    return {p.path: {"estimate": best[p.path], "mean": p.from_u(float(mean[i])),
                     "scale": "log" if p.log else "linear",
                     "sd_transformed": float(sd_u[i]),
                     "interval90": [p.from_u(float(q[0.05][i])), p.from_u(float(q[0.95][i]))],
                     "interval50": [p.from_u(float(q[0.25][i])), p.from_u(float(q[0.75][i]))]}
            for i, p in enumerate(params)}


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
    return clip_spread(cov, width)


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
