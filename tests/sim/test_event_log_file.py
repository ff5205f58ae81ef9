"""events.parquet is the event table, written row group by row group with names
dictionary-encoded and compact integers (about 28 bytes an event at peak instead of about 420:
benchmarks/bench_events.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.engine import run
from sim.events import write_event_log
from sim.planning import layout_of
from sim.scenario import load_scenario
from tests.conftest import ROOT


def test_the_file_holds_the_event_table_of_every_replicate(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "ab_referral.yaml",
                             ["market.size=3000", "mechanics.seed.count=100", "days=20",
                              "replicates=2", "experiment.enrolment=0.5"])
    result = run(scenario, log_events=True)
    path = tmp_path / "events.parquet"
    written = write_event_log(result.counters, layout_of(scenario), path, rows_per_group=500)
    table = pq.read_table(path)
    assert pq.ParquetFile(path).metadata.num_row_groups > 2  # streamed, not one block
    assert table.schema.field("event").type == pa.dictionary(pa.int16(), pa.string())
    assert table.schema.field("user").type == pa.int32()
    expected = result.events()
    got = table.to_pandas()
    assert written == len(expected) == len(got)
    for column in ("event", "channel", "arm", "persona"):
        assert np.array_equal(got[column].astype(str).to_numpy(), expected[column].to_numpy())
    for column in ("user", "day", "campaign", "replicate"):
        assert np.array_equal(got[column].to_numpy(np.int64), expected[column].to_numpy(np.int64))
    assert np.array_equal(got["amount"].to_numpy(), expected["amount"].to_numpy())
    assert {"control", "reward_20", "not_sampled", ""} >= set(got["arm"].astype(str))
