"""The metrics every scenario has: visits, acquisitions, alive and churned users (recorded by
the engine itself)."""

from __future__ import annotations

from sim.metric import Metric, col

METRICS: tuple[Metric, ...] = (
    Metric("visits", "visits", "flow",
           "Visits by potential users, credited to the channel that brought them.",
           ("visit",), compute=lambda c: c["visit"], zh="访问量"),
    Metric("new_users", "users", "flow",
           "Users won (registered) that day, by any channel; an existing base (seed_users with "
           "existing: true) joins as users but is not new users.",
           ("acquired",), compute=lambda c: c["acquired"] - col(c, "base_joined"),
           zh="新增用户（拉新）", headline=True, health=True),
    Metric("acquired_users", "users", "stock",
           "Users since day 0, an existing base included (cumulative new_users plus the "
           "base).",
           ("acquired",), compute=lambda c: c["acquired"].cumsum(), zh="累计用户", headline=True),
    Metric("alive_users", "users", "stock",
           "Acquired users not churned, at the end of the day.",
           ("alive_users",), compute=lambda c: c["alive_users"], zh="存活用户", headline=True),
    Metric("churned_users", "users", "flow",
           "Users who churned for good that day.",
           ("churned",), compute=lambda c: c["churned"], zh="流失用户", good="down", headline=True,
           health=True),
    Metric("registration_rate", "share", "ratio",
           "new_users / visits (1 without a funnel).",
           ("visit", "acquired"), numerator="new_users", denominator="visits", zh="注册转化率"),
)
