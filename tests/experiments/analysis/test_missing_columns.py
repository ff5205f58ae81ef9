"""A column the reading needs and the file lacks: one line naming it, with a suggestion only
when a column of the file looks like a misspelling of it (difflib ratio >= 0.8)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments.analysis.units import load_arms, parse_metric
from sim.errors import InputError


def _message(tmp_path: Path, columns: dict[str, list[object]], metric: str,
             cluster: str | None = None) -> str:
    path = tmp_path / "units.csv"
    pd.DataFrame(columns).to_csv(path, index=False)
    with pytest.raises(InputError) as error:
        load_arms(path, [parse_metric(metric, "--metric", {})], "arm", cluster)
    return str(error.value)


def test_a_missing_cluster_column_is_not_said_to_be_the_user_column(tmp_path: Path) -> None:
    """'user' is 0.73 alike to 'cluster' by difflib's ratio (its default cutoff is 0.6), and a
    user is not a cluster: the line lists the columns instead."""
    message = _message(tmp_path, {"user": [1, 2], "arm": ["control", "treatment"],
                                  "gmv": [1.0, 2.0]}, "gmv", cluster="cluster")
    assert "did you mean" not in message
    assert message.endswith("cluster: missing column for the randomisation cluster of each "
                            "row (--cluster; a plan randomised by cluster or ego needs it); "
                            "columns are user, arm, gmv")


@pytest.mark.parametrize(("asked", "present"), [("clustr", "cluster"),
                                                ("cluster", "cluster_id")])
def test_a_misspelt_cluster_column_is_suggested(tmp_path: Path, asked: str,
                                                present: str) -> None:
    message = _message(tmp_path, {"user": [1, 2], "arm": ["control", "treatment"],
                                  present: [1, 2], "gmv": [1.0, 2.0]}, "gmv", cluster=asked)
    assert f"{asked}: missing column for the randomisation cluster" in message
    assert message.endswith(f"(did you mean {present!r}?)")


def test_a_misspelt_metric_is_suggested_and_another_name_is_not(tmp_path: Path) -> None:
    columns: dict[str, list[object]] = {"user": [1, 2], "arm": ["control", "treatment"],
                                        "orders": [1, 2]}
    assert _message(tmp_path, columns, "order").endswith("(did you mean 'orders'?)")
    assert _message(tmp_path, columns, "users").endswith("(did you mean 'user'?)")
    assert _message(tmp_path, columns, "gmv").endswith("; columns are user, arm, orders")
