"""Multi-touch attribution of orders to touch points: the position-based (U-shaped) credit
of a path, and the table a run's touch-point mechanic leaves (orders, first orders, GMV, cost
and ROI per model and touch point). The touchpoints mechanic computes credits at each order;
`Result.attribution` reads the tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def position_based_credit(counts: np.ndarray, first: np.ndarray,
                          last: np.ndarray) -> np.ndarray:
    """U-shaped credits per order (rows) and touch point (columns) from the path counts and the
    first and last touch points: one touch 1; two 1/2 each; more 0.4 / 0.2 middle / 0.4."""
    counts = counts.astype(np.float64)
    m, k = counts.shape
    rows = np.arange(m)
    total = counts.sum(axis=1)
    credit = np.zeros((m, k))
    middle = counts.copy()
    middle[rows, first] -= 1.0
    middle[rows, last] -= 1.0
    many = total >= 3
    spread = np.where(many, 0.2 / np.maximum(total - 2.0, 1.0), 0.0)
    credit += middle * spread[:, None] * many[:, None]
    ends = np.where(many, 0.4, np.where(total == 2, 0.5, 1.0))
    np.add.at(credit, (rows, first), ends)
    two_or_more = total >= 2
    np.add.at(credit, (rows[two_or_more], last[two_or_more]), ends[two_or_more])
    return credit


def attribution_table(extras: dict[str, Any], mechanic: str) -> pd.DataFrame:
    """One row per (model, touch point): attributed orders, first orders, GMV, the touch
    point's cost over the run and ROI = (attributed GMV - cost) / cost (GMV basis)."""
    names = list(extras[f"{mechanic}.touchpoint_names"])
    models = list(extras[f"{mechanic}.attribution_models"])
    cost = np.asarray(extras[f"{mechanic}.touchpoint_cost"]).sum(axis=1)
    rows = []
    for m, model in enumerate(models):
        for t, tp in enumerate(names):
            gmv = float(extras[f"{mechanic}.attributed_gmv"][m, t])
            rows.append({"model": model, "touchpoint": tp,
                         "orders": float(extras[f"{mechanic}.attributed_orders"][m, t]),
                         "first_orders": float(
                             extras[f"{mechanic}.attributed_first_orders"][m, t]),
                         "gmv": gmv, "cost": float(cost[t]),
                         "roi": (gmv - cost[t]) / cost[t] if cost[t] > 0 else float("nan")})
    return pd.DataFrame(rows)
