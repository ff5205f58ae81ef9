"""Observed data in: a daily metrics table or a raw event / transaction log -> daily metrics.

Two shapes are read (CSV in UTF-8 or GBK, an Excel workbook or Parquet:
`experiments.analysis.table_file.read_table`):

- a **daily metrics table**: `date` plus columns named exactly like workbench metrics
  (`sim.metrics.METRICS`); missing dates are gaps (NaN), not zeros;
- an **event log**: a user id (`user`, `user_id` or `customer_id`), a time (`timestamp`,
  `time` or `date`), optional `event`, `amount` and `channel`. Without an `event` column every
  row is a transaction: a user's first transaction day is `acquired` + `order` + `first_order`,
  later days `order`; several records of one user on one day are one transaction (the CDNOW
  convention of Fader, Hardie & Lee 2005), their amounts summed. The log is aggregated through
  `sim.events.counters_from_events`, so the metrics mean exactly what they mean in a simulation.

PIPL: user ids are pseudonymised with a salted BLAKE2b hash as the file is read, before anything
is kept or written; the raw id column is dropped at once. The salt comes from
`GROWTHSIM_ID_SALT` or is random and stored in the run folder (`id_salt`), so a later file of
the same customers can be linked only by whoever holds that folder.

Bad input is a located `InputError`: `FILE:ROW: column: message`, rows counted as in the file
(the header is line 1 of a CSV, so the first data row is 2; Parquet rows are counted from 1).
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.analysis.table_file import located, numbers, read_table
from experiments.calibration.dates import parse_dates, parse_day
from experiments.calibration.pseudonyms import pseudonymise, resolve_salt, store_salt
from sim.errors import InputError, Problem
from sim.events import counters_from_events
from sim.metrics import METRICS, counter_columns, daily_metrics
from sim.population import Layout
from sim.recorder import Counters

USER_COLUMNS = ("user", "user_id", "customer_id")
TIME_COLUMNS = ("timestamp", "time", "date")
REFUND_HINT = "amounts and counts must be >= 0 (book refunds as `refund` events)"
# Events a log may carry (the engine's names); anything else is refused with this list.
LOG_EVENTS = ("acquired", "order", "first_order", "churned", "open", "visit", "coupon", "gift",
              "refund", "cogs", "cart_abandoned", "reminder_sent", "recovered", "reactivated")
TRANSACTION_EVENTS = ("acquired", "order", "first_order")  # what a log without `event` holds


class Note(str):
    """A note on the observed data: English, as files and JSON keep it, with its Chinese for
    the screen (`said`)."""

    zh: str

    def __new__(cls, en: str, zh: str) -> Note:
        note = super().__new__(cls, en)
        note.zh = zh
        return note

    def said(self) -> str:
        from experiments.report.language import t

        return t(str(self), self.zh)


@dataclass
class Observed:
    """Observed daily metrics on days 0..days-1 counted from `start` (NaN = not observed)."""

    source: str
    start: pd.Timestamp
    daily: pd.DataFrame  # index: day 0..days-1; columns: metric names
    arrivals: dict[str, np.ndarray] = field(default_factory=dict)  # channel -> new users / day
    customers: pd.DataFrame | None = None  # per pseudonymised user: first_day, x, t_x (days)
    has_churn: bool = False  # the log records churn (a transactions-only log never does)
    notes: list[str] = field(default_factory=list)
    pending_salt: tuple[Path, bytes] | None = None  # a new salt to keep once the command runs

    def keep_salt(self) -> None:
        """Store a new pseudonymisation salt in its folder (called after all input checks)."""
        if self.pending_salt is not None:
            store_salt(*self.pending_salt)
            self.pending_salt = None

    @property
    def days(self) -> int:
        return len(self.daily)

    @property
    def metrics(self) -> list[str]:
        return [c for c in self.daily.columns if self.daily[c].notna().any()]

    def fingerprint(self) -> str:
        """A digest of the observed numbers: the same data give the same study name."""
        digest = hashlib.sha256(pd.util.hash_pandas_object(self.daily.fillna(-1.0),
                                                           index=True).values.tobytes())
        return digest.hexdigest()[:12]


# --- reading -----------------------------------------------------------------------------------


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    return next((c for c in names if c in columns), None)


def load_observed(path: str | Path, *, until: str | None = None, start: str | None = None,
                  salt_folder: Path | None = None) -> Observed:
    """Read a metrics table or an event log (detected from its columns) into daily metrics."""
    path = Path(path)
    frame, first = read_table(path, "date,<metric>,... or user_id,timestamp,...")
    columns = list(frame.columns)
    user = _pick(columns, USER_COLUMNS)
    if user is not None:
        salt, new = resolve_salt(salt_folder)
        observed = _from_log(frame, first, str(path), user, salt, until, start)
        if new and salt_folder is not None:
            observed.pending_salt = (Path(salt_folder), salt)
        return observed
    return _from_table(frame, first, str(path), until, start)


def _check_until(until: str | None, last: pd.Timestamp, file_last: pd.Timestamp, source: str,
                 empty_day: str) -> None:
    """--until is inclusive; days past the file's end would enter the fit as empty days."""
    if until is not None and last.normalize() > file_last:
        end = file_last.date()
        raise InputError([Problem("--until", None, "", f"{until} is past the last date of "
                                  f"{source} ({end}): the days after it would count as "
                                  f"{empty_day}; give --until {end} or earlier")])


def _from_table(frame: pd.DataFrame, first: int, source: str, until: str | None,
                start: str | None) -> Observed:
    if "date" not in frame.columns:
        raise InputError([Problem(source, 1, "", "missing column `date`; a metrics table needs "
                                  "date plus metric columns (e.g. date,new_users,purchases), an "
                                  f"event log needs one of {', '.join(USER_COLUMNS)} and a time")])
    problems = []
    for column in frame.columns:
        if column != "date" and column not in METRICS:
            close = difflib.get_close_matches(column, list(METRICS), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see docs/metrics.md"
            problems.append(Problem(source, 1, column, f"unknown metric name; {hint}"))
    if problems:
        raise InputError(problems)
    if len(frame.columns) == 1:
        raise InputError([Problem(source, 1, "", "no metric columns next to `date`; add e.g. "
                                  "new_users,purchases")])
    dates = parse_dates(frame, "date", source, first).dt.normalize()
    dup = dates.duplicated(keep="first").to_numpy()
    if dup.any():
        earlier = {d: i + first for i, d in reversed(list(enumerate(dates)))}
        raise InputError(located(source, "date", dup, first, lambda i: (
            f"{dates.iloc[i].date()} repeats row {earlier[dates.iloc[i]]}; one row per date")))
    values = {}
    for column in frame.columns:
        if column == "date":
            continue
        kind = METRICS[column].kind
        values[column] = numbers(frame, column, source, first, nonnegative=kind != "ratio"
                                  and column not in ("contribution", "gross_margin",
                                                     "net_revenue", "roi"), allow_blank=True,
                                 negative_hint=REFUND_HINT, percent=kind == "ratio")
    table = pd.DataFrame(values)
    table.index = dates.to_numpy()
    origin = parse_day(start, "--start") or dates.min()
    last = parse_day(until, "--until") or dates.max()
    _check_until(until, last, dates.max(), source, "gaps (days without data) at the end")
    table = table[(table.index >= origin) & (table.index <= last)].sort_index()
    if table.empty:
        raise InputError([Problem(source, None, "date", f"no rows between {origin.date()} and "
                                  f"{last.date()}")])
    days = int((last - origin).days) + 1
    daily = table.reindex(pd.date_range(origin, periods=days, freq="D"))
    daily.index = pd.RangeIndex(days, name="day")
    arrivals = {}
    notes: list[str] = []
    if "new_users" in daily:
        gaps = int(daily["new_users"].isna().sum())
        if gaps:
            notes.append(Note(f"{gaps} day(s) without new_users: replayed as 0 arrivals",
                              f"{gaps} 天没有 new_users（新增用户）：按 0 个新用户回放"))
        arrivals["observed"] = daily["new_users"].fillna(0).round().astype(np.int64).to_numpy()
    has_churn = "churned_users" in daily and daily["churned_users"].notna().any()
    return Observed(source, origin, daily, arrivals, None, bool(has_churn), notes)


def _from_log(frame: pd.DataFrame, first: int, source: str, user_col: str, salt: bytes,
              until: str | None, start: str | None) -> Observed:
    columns = list(frame.columns)
    time_col = _pick(columns, TIME_COLUMNS)
    if time_col is None:
        raise InputError([Problem(source, 1, "", f"missing a time column; expected one of "
                                  f"{', '.join(TIME_COLUMNS)} next to {user_col!r}")])
    log = _log_rows(frame, first, source, user_col, salt, time_col)
    if "event" in columns:
        _check_events(log, frame, source, first)
    origin = parse_day(start, "--start") or log["day_date"].min()
    if log["day_date"].min() > origin:  # `start`: a later export of a calibration's data
        raise InputError([Problem(source, None, time_col, (
            f"starts on {log['day_date'].min().date()}, after the calibration's first day "
            f"{origin.date()}: the days before would read as days without orders and returning "
            f"customers as new; give the whole export from {origin.date()} on"))])
    last = parse_day(until, "--until") or log["day_date"].max()
    _check_until(until, last, log["day_date"].max(), source,
                 "days without events" if "event" in columns else "days without orders")
    log = log[(log["day_date"] >= origin) & (log["day_date"] <= last)]
    if log.empty:
        raise InputError([Problem(source, None, time_col, f"no rows between {origin.date()} and "
                                  f"{last.date()}")])
    log["day"] = ((log["day_date"] - origin).dt.days).astype(np.int64)
    days = int((last - origin).days) + 1
    notes: list[str] = []
    if "event" in columns:
        events = log[["user", "day", "event", "amount", "channel"]]
    else:
        events, merged = _transactions(log)
        if merged:
            notes.append(Note(f"{merged} record(s) on a day the same user already bought were "
                              "merged into that day's transaction (one transaction per user-day)",
                              f"{merged} 条记录与同一用户当天已有的购买合并为当天的一笔交易"
                              "（每用户每天一笔）"))
    return _from_events(events, days, source, origin, notes,
                        LOG_EVENTS if "event" in columns else TRANSACTION_EVENTS)


def _log_rows(frame: pd.DataFrame, first: int, source: str, user_col: str, salt: bytes,
              time_col: str) -> pd.DataFrame:
    """The log with pseudonymised users, times, amounts and channels, each checked (located
    errors); from here on, no raw id is kept."""
    columns = list(frame.columns)
    blank = frame[user_col].astype(str).str.strip().isin(["", "nan", "None"]).to_numpy()
    if blank.any():
        raise InputError(located(source, user_col, blank, first, lambda i: "empty user id"))
    users = pseudonymise(frame[user_col], salt)
    frame = frame.drop(columns=[user_col])
    when = parse_dates(frame, time_col, source, first)
    amount = (numbers(frame, "amount", source, first, nonnegative=True, allow_blank=False,
                      negative_hint=REFUND_HINT)
              if "amount" in columns else pd.Series(0.0, index=frame.index))
    channel = (frame["channel"].astype(str).str.strip().str.lower()
               if "channel" in columns else pd.Series("observed", index=frame.index))
    bad_channel = ~channel.str.fullmatch(r"[a-z][a-z0-9_]*").to_numpy()
    if bad_channel.any():
        raise InputError(located(source, "channel", bad_channel, first, lambda i: (
            f"{channel.iloc[i]!r}: a channel name is letters, digits and _, starting with a "
            "letter")))
    return pd.DataFrame({"user": users, "when": when, "day_date": when.dt.normalize(),
                         "amount": amount, "channel": channel,
                         "row": np.arange(len(frame)) + first})


def _check_events(log: pd.DataFrame, frame: pd.DataFrame, source: str, first: int) -> None:
    """Add the event column: known names only, no duplicate rows (located errors)."""
    log["event"] = frame["event"].astype(str).str.strip()
    unknown = ~log["event"].isin(LOG_EVENTS).to_numpy()
    if unknown.any():
        raise InputError(located(source, "event", unknown, first, lambda i: (
            f"{log['event'].iloc[i]!r} is not an event name; expected one of "
            f"{', '.join(LOG_EVENTS)}")))
    dup = log.duplicated(["user", "when", "event", "amount", "channel"]).to_numpy()
    if dup.any():
        raise InputError(located(source, "", dup, first, lambda i: (
            "duplicate row (same user, time, event, amount as an earlier row); remove it or "
            "give times to tell them apart")))


def _from_events(events: pd.DataFrame, days: int, source: str, origin: pd.Timestamp,
                 notes: list[str], recorded: tuple[str, ...]) -> Observed:
    """Daily metrics (the engine's own counters and definitions), arrivals by channel and the
    per-customer summary of an event table whose format can hold the `recorded` events."""
    codes, _ = pd.factorize(events["user"], sort=True)  # integer ids for the counters
    acquired = events[events["event"] == "acquired"]
    channels = ["none", *sorted(set(acquired["channel"]) | set(events["channel"]))]
    layout = Layout(("all",), ("everyone",), tuple(dict.fromkeys(channels)))
    table = pd.DataFrame({"user": codes, "day": events["day"].to_numpy(),
                          "event": events["event"].to_numpy(),
                          "amount": events["amount"].to_numpy(),
                          "channel": events["channel"].to_numpy(), "campaign": -1,
                          "arm": "all", "persona": "everyone"})
    has_churn = bool((events["event"] == "churned").any())
    if not has_churn:  # churn is rarely logged: a log without one churn row cannot see it
        recorded = tuple(event for event in recorded if event != "churned")
    counters = counters_from_events(table, layout, days)
    daily = _metrics_of(counters, days, recorded)
    arrivals = {name: np.bincount(acquired.loc[acquired["channel"] == name, "day"],
                                  minlength=days).astype(np.int64)
                for name in sorted(set(acquired["channel"]))}
    customers = customer_table(events, days)
    return Observed(source, origin, daily, arrivals, customers, has_churn, notes)


def _transactions(log: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Transactions-only log -> acquired / order / first_order events, one order per user-day."""
    per_day = (log.sort_values(["user", "day", "row"])
               .groupby(["user", "day"], sort=True)
               .agg(amount=("amount", "sum"), channel=("channel", "first")).reset_index())
    merged = len(log) - len(per_day)
    first = ~per_day["user"].duplicated(keep="first")
    # a user keeps the channel of their first transaction (it acquired them)
    per_day["channel"] = per_day.groupby("user")["channel"].transform("first")
    order = per_day.assign(event="order")
    first_order = per_day[first].assign(event="first_order")
    acquired = per_day[first].assign(event="acquired", amount=0.0)
    events = pd.concat([acquired, order, first_order], ignore_index=True)
    return events[["user", "day", "event", "amount", "channel"]], merged


def _metrics_of(counters: Counters, days: int, recorded: tuple[str, ...]) -> pd.DataFrame:
    """The log's daily metrics; NaN (not observed) for a metric that reads a counter neither
    rebuilt from the log nor of an event its format can hold. A transactions log holds orders
    only, so its refunds, cost of goods, coupon cost and net revenue are unknown, not 0 (as 0
    they were early warnings and calibration targets), and no log knows ad spend or fees."""
    from sim.aggregation import daily_table  # the engine's table shape, so metrics match exactly

    counts = daily_table(counters)
    daily = daily_metrics(counts)
    daily.index = pd.RangeIndex(days, name="day")
    known = {*counts.columns, *recorded, *(f"{event}_amount" for event in recorded)}
    # a log's customers are its own: no existing base of the model's (seed_users with
    # existing: true) is in it, so its base events are known to be none (new_users read NaN)
    known |= {f"{event}{part}" for event in ("base_joined", "base_first_order")
              for part in ("", "_amount")}
    if "churned" not in recorded:  # rebuilt as if nobody ever left: everyone acquired
        known -= {"alive_users", "churned"}
    daily.loc[:, [m for m in daily.columns if not counter_columns(m) <= known]] = np.nan
    return daily


def customer_table(events: pd.DataFrame, days: int) -> pd.DataFrame:
    """Per pseudonymised customer: first order day, repeat orders x, last order day (the
    recency-frequency summary the BG/NBD likelihood needs). Empty without orders."""
    orders = events[events["event"] == "order"]
    if orders.empty:
        return pd.DataFrame(columns=["user", "first_day", "x", "last_day"])
    g = orders.groupby("user")["day"]
    out = pd.DataFrame({"first_day": g.min(), "x": g.size() - 1, "last_day": g.max()})
    out["observed_days"] = days
    return out.reset_index()


def default_targets(observed: Observed, simulated: list[str]) -> dict[str, float]:
    """Flows observed and simulated alike, weight 1; churn only if the data record it (a
    transactions-only log cannot see churn, so alive/churned users there are not data)."""
    skip = {"acquired_users", "buyers"}
    if not observed.has_churn:
        skip |= {"churned_users", "alive_users"}
    return {m: 1.0 for m in observed.metrics
            if m in simulated and m not in skip and METRICS[m].kind == "flow"}
