"""Observed data in: located errors with row numbers, metrics as the engine defines them, and
pseudonymised ids (no raw id is ever written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.calibration.observed import default_targets, load_observed
from experiments.calibration.pseudonyms import pseudonymise
from sim.errors import InputError


def _write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _problems(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(InputError) as info:
        load_observed(path, salt_folder=path.parent, **kwargs)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(("text", "expected"), [
    ("date,purchases\n2025-01-01,3\n2025-01-0x,4\n",
     "data.csv:3: date: '2025-01-0x' is not a date"),
    ("date,purchases\n2025-01-01,3\n2025-01-01,4\n", "data.csv:3: date: 2025-01-01 repeats row 2"),
    ("date,purchases\n2025-01-01,3\n2025-01-02,-4\n", "data.csv:3: purchases: -4 is negative"),
    ("date,purchase\n2025-01-01,3\n", "data.csv:1: purchase: unknown metric name; did you mean "
     "'purchases'?"),
    ("date,purchases\n2025-01-01,three\n", "data.csv:2: purchases: 'three' is not a number"),
    ("", "data.csv:1: the file is empty"),
    ("date,purchases\n", "data.csv:2: the file has a header but no data rows"),
    ("day,purchases\n1,2\n", "data.csv:1: missing column `date`"),
    ("user_id,date,amount\n7,1997-01-01,5\n8,1997-01-02,-1\n", "data.csv:3: amount: -1 is "
     "negative"),
    ("user_id,amount\n7,5\n", "data.csv:1: missing a time column"),
    ("user_id,timestamp,event,amount\n7,2025-01-01,order,5\n7,2025-01-01,order,5\n",
     "data.csv:3: duplicate row"),
    ("user_id,timestamp,event,amount\n7,2025-01-01,buy,5\n", "data.csv:2: event: 'buy' is not "
     "an event name"),
])
def test_bad_inputs_are_located(tmp_path: Path, text: str, expected: str) -> None:
    problems = _problems(_write(tmp_path, text))
    assert any(p.startswith(str(tmp_path / expected.split(":")[0])) and expected.split(":", 1)[1]
               in p for p in problems), problems


def test_metrics_table_with_gaps(tmp_path: Path) -> None:
    path = _write(tmp_path, "date,new_users,purchases\n2025-01-01,5,3\n2025-01-03,2,1\n")
    obs = load_observed(path)
    assert obs.days == 3
    assert np.isnan(obs.daily["purchases"].iloc[1])  # a gap is not a zero
    assert obs.arrivals["observed"].tolist() == [5, 0, 2]


def test_transactions_log_becomes_engine_metrics(tmp_path: Path) -> None:
    # user 1: first on day 0, again day 0 (merged) and day 2; user 2: first on day 1.
    path = _write(tmp_path, "customer_id,date,amount\n1,2025-01-01,10\n1,2025-01-01,5\n"
                  "2,2025-01-02,7\n1,2025-01-03,4\n")
    obs = load_observed(path, salt_folder=tmp_path)
    d = obs.daily
    assert d["new_users"].tolist() == [1, 1, 0]
    assert d["purchases"].tolist() == [1, 1, 1]
    assert d["repeat_purchases"].tolist() == [0, 0, 1]
    assert d["gmv"].tolist() == [15, 7, 4]
    assert obs.customers["x"].sort_values().tolist() == [0, 1]
    assert any("merged" in n for n in obs.notes)


def test_a_transactions_log_does_not_observe_what_it_cannot_hold(tmp_path: Path) -> None:
    """Orders only: refunds, cost of goods and coupon cost are unknown (NaN, not targets), not 0;
    an event log that books refunds observes them. Money no log can hold (referral rewards,
    member prices, fees) leaves net revenue unknown in either."""
    path = _write(tmp_path, "customer_id,date,amount\n1,2025-01-01,10\n2,2025-01-02,7\n"
                  "1,2025-01-03,4\n")
    obs = load_observed(path, salt_folder=tmp_path)
    blind = ("refunds", "cogs", "coupon_cost", "net_revenue", "register_cost", "alive_users")
    for name in blind:
        assert name in obs.daily and obs.daily[name].isna().all(), name
        assert name not in obs.metrics
    assert {"purchases", "gmv", "aov", "new_users"} <= set(obs.metrics)
    targets = default_targets(obs, [*blind, "purchases", "gmv"])
    assert set(targets) == {"purchases", "gmv"}
    log = _write(tmp_path, "user,date,event,amount\n1,2025-01-01,acquired,0\n"
                 "1,2025-01-01,order,10\n1,2025-01-01,first_order,10\n"
                 "1,2025-01-02,refund,10\n", name="events.csv")
    events = load_observed(log, salt_folder=tmp_path)
    assert events.daily["refunds"].tolist() == [0, 10]
    assert events.daily["coupon_cost"].tolist() == [0, 0]  # a format that books coupons: 0
    assert events.daily["net_revenue"].isna().all()
    assert events.daily["alive_users"].isna().all()  # no churn row: churn is not logged
    churned = _write(tmp_path, log.read_text() + "1,2025-01-02,churned,0\n", name="churn.csv")
    assert load_observed(churned, salt_folder=tmp_path).daily["alive_users"].tolist() == [1, 0]
    assert "refunds" in default_targets(events, ["refunds"])


def test_until_cuts_the_log(tmp_path: Path) -> None:
    path = _write(tmp_path, "customer_id,date,amount\n1,2025-01-01,10\n1,2025-01-05,5\n")
    obs = load_observed(path, until="2025-01-03", salt_folder=tmp_path)
    assert obs.days == 3 and obs.daily["purchases"].sum() == 1


def test_pseudonyms_are_salted_and_stable() -> None:
    ids = pd.Series(["alice", "bob", "alice"])
    a, b = pseudonymise(ids, b"salt-1"), pseudonymise(ids, b"salt-2")
    assert a[0] == a[2] and a[0] != a[1]
    assert a[0] != b[0]  # another salt, another pseudonym
    assert "alice" not in a[0]


def test_nothing_written_contains_raw_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Calibrate on a log with distinctive ids, then grep every output file for them."""
    from experiments.calibration.calibrate import calibrate
    from experiments.runs.executors import make_executor
    from sim.scenario import validate_scenario

    monkeypatch.delenv("GROWTHSIM_ID_SALT", raising=False)
    rng = np.random.default_rng(5)
    raw_ids = [f"wx_openid_{i:05d}ZQ" for i in range(60)]
    rows = [(uid, f"2025-01-{1 + int(rng.integers(0, 14)):02d}", 9.5) for uid in raw_ids]
    rows += [(uid, "2025-01-20", 3.0) for uid in raw_ids[:20]]
    log = pd.DataFrame(rows, columns=["user_id", "timestamp", "amount"])
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    out = tmp_path / "cal"
    obs = load_observed(path, salt_folder=out)
    base = validate_scenario({
        "name": "pipl", "days": 5, "market": {"size": 100},
        "mechanics": {"arrivals": {"type": "observed_arrivals", "counts": [0]},
                      "purchase": {"type": "purchase_dropout",
                                   "purchase_rate": {"r": 1.0, "alpha": 20.0},
                                   "dropout": {"a": 1.0, "b": 3.0},
                                   "order_value": {"model": "gamma", "shape": 2.0, "scale": 5.0},
                                   "purchase_on_acquisition": True}}}, "<test>")
    with make_executor("serial") as pool:
        calibrate(base, obs, ["mechanics.purchase.dropout.a=0.2..5"], pool, out,
                  targets_text="repeat_purchases", trials=3, replicates=1, noise_replicates=3,
                  draws=10)
    assert (out / "id_salt").exists()
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "customers.parquet" for p in written)
    for p in written:
        blob = p.read_bytes()
        assert b"wx_openid_" not in blob, p
        assert not any(uid.encode() in blob for uid in raw_ids), p


@pytest.mark.parametrize(("text", "expected"), [
    ("date,purchases\n2025-01-01,3\n2025-01-01,4\n2025-01-01,5\n2025-01-01,6\n",
     "data.csv:3: date: 2025-01-01 repeats row 2; one row per date (and 2 more rows like it: "
     "4, 5)"),
    ("user_id,timestamp,event,amount\n7,2025-01-01,buy,5\n7,2025-01-02,buy,5\n",
     "data.csv:2: event: 'buy' is not an event name; expected one of"),
    ("user_id,date,amount\n,2025-01-01,5\n,2025-01-02,5\n,2025-01-03,5\n",
     "data.csv:2: user_id: empty user id (and 2 more rows like it: 3, 4)"),
])
def test_a_problem_many_rows_share_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    """Every row-by-row check says a problem once, the other rows counted (before: a line per
    row, up to 20 alike)."""
    (problem,) = _problems(_write(tmp_path, text))
    assert problem.startswith(str(tmp_path / "data.csv") + expected.removeprefix("data.csv"))
    assert "(and 1 more row like it: 3)" in problem or "event" not in problem
