"""Metrics: one definition per number (sim.metric.Metric, written next to what records its
counters), assembled into one catalogue and applied alike to simulated counters and to
observed or rebuilt daily tables.

- `catalog`: METRICS, LEDGER, HEADLINE, HEALTH, the report's groups, the daily and horizon
  computations, `counter_columns`.
- `ledger`: the money ledger's sections and totals.
- `cohorts`: LTV, CAC, conversion, payback, K-factor and cycle time by cohort.
"""

from __future__ import annotations

from sim.metrics.catalog import (
    HEADLINE,
    HEALTH,
    LEDGER,
    METRICS,
    available,
    counter_columns,
    daily_metrics,
    daily_value,
    horizon_values,
    metric_bounds,
    over_horizon,
    over_periods,
    report_groups,
    report_tiles,
)
from sim.metrics.cohorts import (
    COHORT_EVENTS,
    COHORT_METRICS,
    CONVERSION_DAYS,
    K_FACTOR_DAYS,
    LTV_DAYS,
    cohort_margin,
    cohort_mean,
    ltv_by_cohort,
    retention_grid,
    unit_economics,
)
from sim.metrics.ledger import LTV_MARGIN, ledger_total

__all__ = ["COHORT_EVENTS", "COHORT_METRICS", "CONVERSION_DAYS", "HEADLINE", "HEALTH",
           "K_FACTOR_DAYS", "LEDGER", "LTV_DAYS", "LTV_MARGIN", "METRICS", "available",
           "cohort_margin", "cohort_mean", "counter_columns", "daily_metrics", "daily_value",
           "horizon_values", "ledger_total", "ltv_by_cohort", "metric_bounds", "over_horizon",
           "over_periods",
           "report_groups", "report_tiles", "retention_grid", "unit_economics"]
