"""Small statistics shared by the engine's summaries."""

from __future__ import annotations

import math

import numpy as np


def mean_ci(values: np.ndarray, level: float = 0.95,
            bounds: tuple[float, float] = (-math.inf, math.inf)) -> dict[str, float]:
    """Mean, standard deviation and a t confidence interval of the mean across replicates,
    kept inside the values the quantity can take (`bounds`: a count is never below 0, a share
    never above 1, however few the replicates)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return {"mean": math.nan, "sd": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0}
    mean = float(values.mean())
    if n == 1:
        return {"mean": mean, "sd": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 1}
    sd = float(values.std(ddof=1))
    half = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    low, high = max(mean - half, bounds[0]), min(mean + half, bounds[1])
    return {"mean": mean, "sd": sd, "ci_low": low, "ci_high": high, "n": n}


def t_quantile(q: float, df: int) -> float:
    """Student's t quantile: scipy.stats.t.ppf, bit for bit (it calls this special function),
    without importing scipy.stats (0.65 s on the 2-core machine, against 0.15 s for
    scipy.special, which every run with replicates paid for one number)."""
    from scipy.special import stdtrit  # here: a single-replicate run needs no quantile

    return float(stdtrit(df, q))
