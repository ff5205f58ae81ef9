"""`simctl` end to end: exit codes, stdout for data and stderr for people, atomic run folders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.cli import app
from experiments.runs import outputs
from tests.conftest import ROOT

REFERENCE = str(ROOT / "scenarios" / "reference.yaml")
SMALL = ["market.size=2000", "--days", "30"]
runner = CliRunner()


def simctl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real console entry point, in a child process, for true exit codes and streams."""
    code = "from experiments.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "COLUMNS": "120"})


def test_run_prints_only_the_run_folder_on_stdout(tmp_path: Path) -> None:
    done = simctl("run", REFERENCE, *SMALL, "--replicates", "3", "--out", str(tmp_path),
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip())
    assert run_dir.parent == tmp_path / "reference"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "channel_metrics.parquet", "metrics.parquet", "report.html", "scenario.resolved.yaml",
        "summary.json"]
    assert "purchases" in done.stderr and "95% CI" in done.stderr  # the table is for people
    assert "aov" in done.stderr and "ga_new_users" not in done.stderr  # headline only ...
    assert "more metrics: --all-metrics" in done.stderr
    full = simctl("run", REFERENCE, *SMALL, "--out", str(tmp_path), "--all-metrics",
                  cwd=tmp_path)
    assert "ga_new_users" in full.stderr and "more metrics" not in full.stderr  # or all
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert len(metrics) == 3 * 30 and {"replicate", "day", "gmv"} <= set(metrics.columns)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["replicates"] == 3 and summary["metrics"]["purchases"]["n"] == 3
    html = (run_dir / "report.html").read_text()
    assert "Plotly.newPlot" in html and re.search(r"<script[^>]*\bsrc=", html) is None  # offline


def test_json_output_is_one_object(tmp_path: Path) -> None:
    done = simctl("run", REFERENCE, *SMALL, "--json", "--out", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0
    doc = json.loads(done.stdout)  # exactly one JSON document, nothing else
    assert set(doc) == {"run_dir", "summary"}
    assert doc["summary"]["new_users"] > 0 and isinstance(doc["summary"]["aov"], float)
    assert Path(doc["run_dir"]).is_dir()


def test_resolved_scenario_reruns_to_the_same_numbers(tmp_path: Path) -> None:
    first = simctl("run", REFERENCE, *SMALL, "--quiet", "--out", str(tmp_path), cwd=tmp_path)
    resolved = Path(first.stdout.strip()) / "scenario.resolved.yaml"
    again = simctl("run", str(resolved), "--quiet", "--out", str(tmp_path / "b"), cwd=tmp_path)
    a = pd.read_parquet(Path(first.stdout.strip()) / "metrics.parquet")
    b = pd.read_parquet(Path(again.stdout.strip()) / "metrics.parquet")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "missing.yaml"], "missing.yaml: no such file"),
        (["run", REFERENCE, "mechanics.acquisition.p=7"], "(from override"),
        (["run", REFERENCE, "--days", "0"], "days: Input should be greater than or equal to 1"),
        (["run", REFERENCE, "nonsense"], "override 'nonsense': expected dotted.path=value"),
        (["validate", REFERENCE, "market.size=-1"], "market.size:"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, fragment) -> None:
    done = simctl(*args, "--out", str(tmp_path / "runs"), cwd=tmp_path) if args[0] == "run" \
        else simctl(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "runs").exists()


def test_bad_scenario_file_reports_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(REFERENCE).read_text().replace("q: 0.30", "q: -0.30"))
    done = simctl("validate", str(bad), REFERENCE, cwd=tmp_path)
    assert done.returncode == 2
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "q: -0.30" in t)
    assert f"{bad}:{line}: mechanics.acquisition.q: Input should be greater than or equal to 0" \
        in done.stderr
    assert f"{REFERENCE}: ok" in done.stderr  # the good file is still checked


def test_memory_refusal_exits_2(tmp_path: Path) -> None:
    done = simctl("run", REFERENCE, "market.size=1000000000000", "--out", str(tmp_path / "r"),
                  cwd=tmp_path)
    assert done.returncode == 2 and "users need about" in done.stderr
    assert not (tmp_path / "r").exists()


def test_schema_is_json_schema_of_scenarios() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "growthsim scenario"
    assert {"name", "days", "market", "mechanics"} <= set(schema["properties"])


def test_interrupt_exits_130_and_leaves_no_complete_folder(tmp_path, monkeypatch) -> None:
    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr("experiments.cli.run_cli.run", interrupted)
    result = runner.invoke(app, ["run", REFERENCE, *SMALL, "--out", str(tmp_path)])
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    assert not any(tmp_path.rglob("summary.json"))


def test_failure_while_writing_leaves_no_folder(tmp_path, monkeypatch) -> None:
    def broken_report(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(outputs, "write_report", broken_report)
    result = runner.invoke(app, ["run", REFERENCE, *SMALL, "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "disk full" in result.stderr and "Traceback" not in result.stderr
    assert list((tmp_path / "reference").iterdir()) == []  # no partial folder either


def test_internal_errors_show_traceback_only_with_debug(tmp_path, monkeypatch) -> None:
    def bug(*_a, **_k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("experiments.cli.run_cli.run", bug)
    plain = runner.invoke(app, ["run", REFERENCE, *SMALL, "--out", str(tmp_path)])
    assert plain.exit_code == 1 and "--debug" in plain.stderr
    debug = runner.invoke(app, ["--debug", "run", REFERENCE, *SMALL, "--out", str(tmp_path)])
    assert isinstance(debug.exception, ZeroDivisionError)


COLD_START = str(ROOT / "scenarios" / "cold_start.yaml")


def test_events_flag_writes_the_event_log(tmp_path: Path) -> None:
    done = simctl("run", COLD_START, "market.size=3000", "--events", "--quiet",
                  "--out", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    events = pd.read_parquet(Path(done.stdout.strip()) / "events.parquet")
    assert {"user", "day", "event", "amount", "channel", "campaign"} <= set(events.columns)
    assert {"acquired", "order", "open", "visit"} <= set(events["event"])


def test_events_flag_refuses_a_huge_market(tmp_path: Path) -> None:
    done = simctl("run", COLD_START, "market.size=6000000", "--events", "--out",
                  str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 2 and "--events logs every user event" in done.stderr
    assert not (tmp_path / "r").exists()


GROWTH = str(ROOT / "scenarios" / "growth.yaml")


def test_compliance_warning_is_shown_and_strict_refuses(tmp_path: Path) -> None:
    plain = simctl("validate", GROWTH, "mechanics.referral.reward_per_share=2", cwd=tmp_path)
    assert plain.returncode == 0
    assert "warning: mechanics.referral.reward_per_share: [WX-SHARE]" in plain.stderr
    strict = simctl("run", GROWTH, "mechanics.referral.reward_per_share=2", "--strict",
                    "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert strict.returncode == 2 and "[WX-SHARE]" in strict.stderr
    assert not (tmp_path / "r").exists()


def test_compliance_error_stops_a_run(tmp_path: Path) -> None:
    done = simctl("run", GROWTH, "mechanics.dist.type=distributors",
                  "mechanics.dist.entry_fee=99", "market.size=2000", "mechanics.seed.count=2000",
                  "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 2 and "[LAW-MLM]" in done.stderr
    assert not (tmp_path / "r").exists()


def test_summary_carries_end_of_run_tables(tmp_path: Path) -> None:
    done = simctl("run", GROWTH, "market.size=20000", "mechanics.seed.count=200",
                  "--quiet", "--out", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((Path(done.stdout.strip()) / "summary.json").read_text())
    depths = summary["tables"]["referral.depth_histogram"]
    assert sum(depths) == summary["metrics"]["acquired_users"]["mean"]  # every user, a depth
    assert len(depths) >= 2  # some users were referred


def test_record_tables_are_listed_per_replicate_not_averaged() -> None:
    """Supplier deliveries are a log whose length differs between replicates (scale.yaml
    with 2 replicates crashed averaging them): each row is kept, led by its replicate."""
    import sim

    result = sim.run(sim.load_scenario(ROOT / "scenarios" / "scale.yaml", [
        "market.size=2000", "days=30", "replicates=2"]))
    logs = [c.extras["stock.deliveries"] for c in result.counters.values()]
    assert len(logs[0]) != len(logs[1])  # the case this test is about
    rows = outputs.end_of_run_tables(result)["stock.deliveries"]
    assert rows == [[r, *row] for r in (0, 1) for row in logs[r].tolist()]


def test_run_without_a_selling_mechanic_reports_not_applicable(tmp_path: Path) -> None:
    """Acquisition only: no orders, so no LTV or conversion (null in summary.json), no crash."""
    scenario = tmp_path / "acquire.yaml"
    scenario.write_text("name: acquire\ndays: 30\nmarket: {size: 2000}\nmechanics:\n"
                        "  organic: {type: bass_acquisition, p: 0.01, q: 0.2}\n")
    done = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path), "--quiet"])
    assert done.exit_code == 0, done.output
    summary = json.loads((Path(done.stdout.strip()) / "summary.json").read_text())
    assert summary["metrics"]["new_users"]["mean"] > 0
    economics = summary["unit_economics"]["all"]
    assert economics["ltv_30d_margin"]["mean"] is None
    assert economics["conversion_7d"]["mean"] is None


def test_a_shorter_horizon_on_the_command_line_runs_and_says_what_it_left_out(
        tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(ROOT / "scenarios" / "growth.yaml"), "--days", "30",
                                 "market.size=20000", "mechanics.seed.count=600", "--quiet",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert "growth.yaml:71: note: mechanics.kol.posts.1: left out: day 63" in result.stderr


def test_sweep_takes_the_common_options_and_forecast_can_be_quiet(tmp_path: Path) -> None:
    """--days and --seed on every command that simulates; --quiet leaves stderr empty."""
    reference = str(ROOT / "scenarios" / "reference.yaml")
    swept = runner.invoke(app, ["sweep", reference, "market.size=2000", "-p",
                                "mechanics.acquisition.q=0.2,0.3", "--days", "7", "--seed", "5",
                                "--quiet", "--json", "--out", str(tmp_path)])
    assert swept.exit_code == 0, swept.stderr
    folder = Path(json.loads(swept.stdout)["run_dir"])
    base = (folder / "scenario.base.yaml").read_text()
    assert "days: 7" in base and "seed: 5" in base
    small = tmp_path / "small.yaml"
    small.write_text(Path(reference).read_text().replace("size: 100000 ", "size: 2000 "))
    quiet = runner.invoke(app, ["forecast", str(small), "--days", "7",
                                "--draws", "2", "--replicates", "1", "--quiet", "--out",
                                str(tmp_path / "forecast")])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr


@pytest.mark.parametrize(("command", "options"), [
    ("run", ("--days", "--seed", "--replicates", "--out", "--quiet", "--json")),
    ("sweep", ("--days", "--seed", "--replicates", "--executor", "--out", "--quiet", "--json")),
    ("sensitivity", ("--days", "--seed", "--replicates", "--executor", "--out", "--quiet",
                     "--json")),
    ("optimize", ("--days", "--seed", "--replicates", "--executor", "--out", "--quiet",
                  "--json")),
    ("ab", ("--days", "--seed", "--replicates", "--executor", "--out", "--quiet", "--json")),
    ("calibrate", ("--seed", "--replicates", "--executor", "--out", "--quiet", "--json")),
    ("forecast", ("--days", "--seed", "--replicates", "--executor", "--out", "--quiet",
                  "--json"))])
def test_commands_that_simulate_share_the_common_options(command: str,
                                                         options: tuple[str, ...]) -> None:
    """calibrate's horizon is the observed data's, so it has no --days; run's replicates run in
    one process (the engine's vectorised day loop), so it has no --executor."""
    shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
    for option in options:
        assert re.search(rf"{option}\b", shown), (command, option)


def test_simctl_run_loads_only_the_run_app_and_other_commands_get_all() -> None:
    """`simctl run` starts on the run command's own app (no power, A/B or calibration stack);
    the root options may come first; anything else gets every command."""
    import experiments.cli as cli
    from experiments.cli import run_cli

    for argv in (["run", "s.yaml"], ["--debug", "run"], ["--lang", "zh", "run"],
                 ["--lang=zh", "run"]):
        assert cli._app(argv) is run_cli.app, argv
    for argv in ([], ["--help"], ["power", "--help"], ["--lang", "run"], ["validate", "run"]):
        app = cli._app(argv)
        assert {c.name for c in app.registered_commands} >= {"run", "power", "ab"}, argv


def test_a_finished_run_skips_teardown_but_runs_exit_handlers_and_flushes(tmp_path: Path) -> None:
    """`simctl run` leaves by os._exit (no interpreter teardown, so an object's finaliser that
    teardown would call never runs): exit handlers must still run, the piped stdout must arrive
    whole, and exit codes must stay those of the command."""
    marker, torn_down = tmp_path / "exit-handler-ran", tmp_path / "torn-down"
    code = (f"import atexit, pathlib; atexit.register(pathlib.Path({str(marker)!r}).touch)\n"
            "class Finalised:\n"
            f"    def __del__(self): pathlib.Path({str(torn_down)!r}).touch()\n"
            "kept = Finalised()\n"
            "from experiments.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", code, "run", REFERENCE, *SMALL, "--json",
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert marker.exists() and not torn_down.exists()
    assert json.loads(done.stdout)["summary"]["new_users"] > 0  # all of it, flushed
    marker.unlink()
    bad = subprocess.run([sys.executable, "-c", code, "run", REFERENCE, "market.size=abc",
                          "--out", str(tmp_path / "bad")], capture_output=True, text=True)
    assert bad.returncode == 2 and marker.exists() and "market.size" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_the_command_list_gives_each_command_its_summary_unbroken() -> None:
    """Each row of `simctl --help` is the docstring's first paragraph; wide enough, one line
    (Typer's rich help kept the paragraph's line breaks, which cut rows mid-sentence)."""
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "400"}, terminal_width=400)
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if "│ dashboard " in line]
    assert len(rows) == 1 and "business health and growth accounting side by side" in rows[0]
    assert "│ analyze " in result.stdout and "intervals, the correction applied" in result.stdout
