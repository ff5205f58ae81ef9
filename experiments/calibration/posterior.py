"""The projected regression posterior (module docstring of `experiments.calibration.calibrate`):
the exact predictive of a regression of projected summaries on the transformed parameters,
sampled by importance sampling, and the check that keeps only draws whose own simulation fits
the data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.errors import InputError, Problem

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
    fit = _fit_line(u, t, centre, t_obs, lo, hi)
    points, weights, ess = _importance_sample(fit, lo, hi, rng)
    post_mean = weights @ points
    post_cov = np.atleast_2d(np.cov(points, rowvar=False, aweights=weights))
    quantiles = {level: np.array([_weighted_quantile(points[:, i], weights, level)
                                  for i in range(u.shape[1])])
                 for level in (0.05, 0.25, 0.75, 0.95)}
    return {"mean": post_mean, "cov": post_cov, "samples": points, "weights": weights,
            "quantiles": quantiles, "ess": ess, "df": fit.nu, "noise_cov": fit.scale,
            "line": fit.line}


@dataclass(frozen=True)
class _Line:
    """The regression t = a + slope (u - centre) + e of a design, inverted at t_obs."""

    centre: np.ndarray
    t_obs: np.ndarray
    coef: np.ndarray  # (k, p): intercept, then slopes
    scale: np.ndarray  # S / nu, the noise covariance
    scale_inv: np.ndarray
    slope_inv: np.ndarray
    solution: np.ndarray
    line: float  # 1 + h at the solution
    nu: int

    def log_target(self, points: np.ndarray) -> np.ndarray:
        """Log density (up to a constant) of the multivariate t at each point."""
        p = len(self.centre)
        r = self.t_obs - np.column_stack([np.ones(len(points)), points - self.centre]) @ self.coef
        q = np.einsum("ij,jk,ik->i", r, self.scale_inv, r) / self.line
        return -0.5 * (self.nu + p) * np.log1p(q / self.nu)


def _fit_line(u: np.ndarray, t: np.ndarray, centre: np.ndarray, t_obs: np.ndarray,
              lo: np.ndarray, hi: np.ndarray) -> _Line:
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
    return _Line(centre, t_obs, coef, scale, scale_inv, slope_inv, solution, line, nu)


def _importance_sample(fit: _Line, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator,
                       ) -> tuple[np.ndarray, np.ndarray, float]:
    """Self-normalised importance sampling from a multivariate t proposal, refitted to the
    weighted draws until the effective sample size reaches ESS_WANTED (at most 6 passes)."""
    p = len(fit.centre)
    width = hi - lo
    mean = fit.solution
    cov = clip_spread(4.0 * fit.line * fit.slope_inv @ fit.scale @ fit.slope_inv.T, width,
                      most=0.5, least=1e-4)
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
        log_w = np.where(inside, fit.log_target(points) - log_q, -np.inf)
        log_w -= log_w.max()
        weights = np.exp(log_w)
        weights /= weights.sum()
        ess = float(1.0 / np.sum(weights**2))
        mean = weights @ points
        spread = np.atleast_2d(np.cov(points, rowvar=False, aweights=weights))
        cov = clip_spread(1.5**2 * spread, width, most=0.5, least=1e-4)
        if ess >= ESS_WANTED:
            break
    return points, weights, ess


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



def clip_spread(cov: np.ndarray, width: np.ndarray, most: float = 0.25,
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
