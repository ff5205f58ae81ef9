"""Bad input and faults at the command line: every command that writes writes nothing when it
exits 2; output paths that cannot work are refused before any work; a write that fails says so
in one line; Ctrl-C and SIGTERM stop any command with 130 / 143 and one line."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from experiments.cli.commands import app
from experiments.runs import outputs
from tests.conftest import ROOT

runner = CliRunner()
SCENARIOS = ROOT / "scenarios"
REFERENCE = str(SCENARIOS / "reference.yaml")
AB = str(SCENARIOS / "ab_referral.yaml")
SMALL = ["market.size=2000", "--days", "30"]
P_BOUNDS = "mechanics.acquisition.p=0.001..0.01"


def _tree(folder: Path) -> list[str]:
    """Every path under a folder, hidden ones included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", "scenarios"], cwd=ROOT,
                          capture_output=True, text=True).stdout


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch working folder with a bad and a good observed file, a run folder to show and a
    plain file where a folder is wanted."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GROWTHSIM_ID_SALT", raising=False)
    (tmp_path / "bad_dates.csv").write_text("user_id,timestamp,amount\nu1,2024-13-01,5\n")
    (tmp_path / "negative.csv").write_text("user_id,timestamp,amount\nu1,2024-01-01,-5\n")
    (tmp_path / "words.csv").write_text("user_id,timestamp,amount\nu1,2024-01-01,lots\n")
    (tmp_path / "good.csv").write_text("user_id,timestamp,amount\nu1,2024-01-01,5\n"
                                       "u2,2024-01-03,7\nu1,2024-01-09,4\n")
    (tmp_path / "once.csv").write_text("user_id,timestamp,amount\nu1,1997-01-01,5\n"
                                       "u2,1997-01-03,7\nu3,1997-01-09,4\n")
    (tmp_path / "a_file").write_text("not a folder\n")
    (tmp_path / "units.csv").write_text("arm,gmv,orders\ncontrol,5,1\ncontrol,7,2\n"
                                        "treatment,6,1\ntreatment,9,3\n")
    (tmp_path / "one_arm.csv").write_text("arm,gmv\ncontrol,5\ncontrol,7\n")
    (tmp_path / "flat.csv").write_text("arm,gmv\ncontrol,5\ncontrol,5\ntreatment,5\n"
                                       "treatment,5\n")
    (tmp_path / "negative_orders.csv").write_text("arm,gmv,orders\ncontrol,5,1\n"
                                                  "treatment,6,-1\n")
    (tmp_path / "stats.csv").write_text("arm,metric,n,sum,sum_squares\ncontrol,gmv,-3,5,9\n"
                                        "treatment,gmv,4,6,12\n")
    (tmp_path / "not_a_run").mkdir()
    return tmp_path


# One or more bad invocations of every command that writes; each must exit 2 with located
# one-line messages and leave the working folder and the shipped scenarios as they were.
BAD = {
    "run: bad override": (["run", REFERENCE, "mechanics.acquisition.q=.inf"],
                          "mechanics.acquisition.q"),
    "run: --out is a file": (["run", REFERENCE, *SMALL, "--out", "a_file"],
                             "--out: a_file is a file"),
    "sweep: bad bounds": (["sweep", REFERENCE, "-p", "mechanics.acquisition.p=0.1..0.01"],
                          "the low end must be below the high end"),
    "sweep: a parameter named like a results column": (
        ["sweep", REFERENCE, *SMALL, "-p", "seed=1,2"], "--param seed=1,2: seed names a column "
        "of the sweep's results"),
    "sweep: --out below a file": (["sweep", REFERENCE, "-p", "mechanics.acquisition.p=0.1,0.2",
                                   "--out", "a_file/runs"], "a_file is a file"),
    "sensitivity: unknown output": (["sensitivity", REFERENCE, "-p", P_BOUNDS, "--outputs",
                                     "gmvv"], "unknown metric 'gmvv'"),
    "optimize: no objective": (["optimize", REFERENCE, "-p", P_BOUNDS],
                               "give exactly one of --maximize"),
    "ab: a size of 0": (["ab", AB, "--sizes", "0", "--replicates", "2"],
                        "--sizes: expected whole numbers >= 1, got '0'"),
    "ab: --out is a file": (["ab", AB, "--replicates", "2", "--out", "a_file"],
                            "a_file is a file"),
    "calibrate: bad date": (["calibrate", REFERENCE, "--observed", "bad_dates.csv", "--fit",
                             P_BOUNDS], "bad_dates.csv:2: timestamp: '2024-13-01' is not a date"),
    "calibrate: negative amount": (["calibrate", REFERENCE, "--observed", "negative.csv",
                                    "--fit", P_BOUNDS], "negative.csv:2: amount: -5 is negative"),
    "calibrate: words for an amount": (["calibrate", REFERENCE, "--observed", "words.csv",
                                        "--fit", P_BOUNDS], "'lots' is not a number"),
    "calibrate: --until before the data": (["calibrate", REFERENCE, "--observed", "good.csv",
                                            "--fit", P_BOUNDS, "--until", "2023-01-01"],
                                           "no rows between"),
    "calibrate: no repeat purchase to fit by": (
        ["calibrate", str(ROOT / "scenarios" / "cdnow.yaml"), "--observed", "once.csv"],
        "once.csv: 3 customers and not one repeat purchase"),
    "calibrate: unknown --fit path": (["calibrate", REFERENCE, "--observed", "good.csv",
                                       "--fit", "mechanics.acquisition.nope=0.1..0.2"],
                                      "mechanics.acquisition.nope: unknown field"),
    "calibrate: reversed --fit bounds": (["calibrate", REFERENCE, "--observed", "good.csv",
                                          "--fit", "mechanics.acquisition.p=0.01..0.001"],
                                         "--fit mechanics.acquisition.p=0.01..0.001: the low "
                                         "end must be below the high end"),
    "forecast: no days": (["forecast", REFERENCE, "--days", "0"], "--days: 0; expected"),
    "forecast: no draws": (["forecast", REFERENCE, "--days", "7", "--draws", "0"],
                           "--draws: 0; expected a whole number >= 1"),  # it said --days
    "forecast: bad observed": (["forecast", REFERENCE, "--days", "7", "--observed",
                                "bad_dates.csv"], "is not a date"),
    "dashboard: not a run": (["dashboard", "not_a_run"], "not_a_run: not a run folder"),
    "dashboard: --out is a folder": (["dashboard", "not_a_run", "--out", "not_a_run"],
                                     "--out: not_a_run is a folder"),
    "schema: --out is a folder": (["schema", "--out", "not_a_run"], "is a folder"),
    "analyze: misspelt metric": (["analyze", "units.csv", "--metric", "gmvv", "--out",
                                  "r.html"], "units.csv:1: gmvv: missing column for a metric "
                                 "(did you mean 'gmv'?)"),
    "analyze: arms not the plan's": (["analyze", "units.csv", "--plan", AB, "--metric", "gmv",
                                      "--guardrail", "gmv", "--out", "r.html"],
                                     "do not match the plan's control, reward_20"),
    "analyze: one arm": (["analyze", "one_arm.csv", "--metric", "gmv", "--out", "r.html"],
                         "only one arm ('control')"),
    "analyze: no variance": (["analyze", "flat.csv", "--metric", "gmv", "--out", "r.html"],
                             "flat.csv: gmv: cannot compare 'treatment' with 'control'"),
    "analyze: negative denominator": (["analyze", "negative_orders.csv", "--metric",
                                       "gmv/orders", "--out", "r.html"],
                                      "negative_orders.csv:3: orders: -1 is negative"),
    "analyze: negative n": (["analyze", "stats.csv", "--metric", "gmv", "--out", "r.html"],
                            "stats.csv:2: n: -3 is negative"),
    "analyze: --out is a folder": (["analyze", "units.csv", "--metric", "gmv", "--out",
                                    "not_a_run"], "--out: not_a_run is a folder"),
    "units: no experiment": (["units", REFERENCE, "--out", "u.parquet"],  # file:line, as ab
                             f"{REFERENCE}:7: experiment: the scenario has no experiment block"),
    "units: a metric misspelt": (["units", AB, "--metric", "purchase", "--out", "u.csv"],
                                 "'purchase' is not a metric; did you mean purchases"),
    "units: not a table name": (["units", AB, "--out", "u.txt"],
                                "--out: u.txt: this command writes .csv or .parquet files"),
    "export: not a run": (["export", "not_a_run"], "not_a_run: not a run folder"),
    "init: the file exists": (["init", "--stage", "growth", "--users", "100", "--out", "a_file"],
                              "a_file exists; give another file name"),
    "init: unknown stage": (["init", "--stage", "viral", "--users", "100"], "expected one of"),
    "export: unknown format": (["export", "not_a_run", "--format", "pdf"],
                               "--format: 'pdf'; expected xlsx or csv"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_and_writes_nothing(workdir: Path, case: str) -> None:
    args, fragment = BAD[case]
    before, status = _tree(workdir), _git_status()
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert all(line.split(":")[0] for line in result.stderr.splitlines())  # each line located
    assert _tree(workdir) == before  # no salt, no empty run folder, no forecast-* anywhere
    assert _git_status() == status


def test_every_writing_command_is_covered() -> None:
    """The table above names each command that writes."""
    writers = {"run", "sweep", "sensitivity", "optimize", "ab", "calibrate", "forecast",
               "dashboard", "schema", "analyze", "units", "export", "init"}
    assert {args[0] for args, _ in BAD.values()} == writers


def test_forecast_of_a_plain_scenario_writes_under_runs(workdir: Path) -> None:
    """A scenario that is not a calibration keeps its folder clean: the forecast goes to
    runs/forecasts/<name>/, never beside the scenario file."""
    folder = workdir / "scenarios"
    folder.mkdir()
    text = Path(REFERENCE).read_text().replace("size: 100000 ", "size: 1000 ")
    (folder / "small.yaml").write_text(text.replace("days: 365", "days: 28"))
    result = runner.invoke(app, ["forecast", "scenarios/small.yaml", "--days", "7", "--draws",
                                 "1", "--replicates", "1"])
    assert result.exit_code == 0, result.stderr
    assert _tree(folder) == ["small.yaml"]
    written = Path(result.stdout.strip())
    assert written.parent.parent == Path("runs") / "forecasts" / "reference"
    assert written.exists()


def test_calibrate_keeps_the_salt_only_when_it_runs(workdir: Path) -> None:
    from experiments.calibration.observed import load_observed

    observed = load_observed(workdir / "good.csv", salt_folder=workdir / "cal")
    assert not (workdir / "cal").exists()  # read, checked, nothing written yet
    observed.keep_salt()
    again = load_observed(workdir / "good.csv", salt_folder=workdir / "cal")
    assert (workdir / "cal" / "id_salt").exists() and again.pending_salt is None
    assert list(observed.customers["user"]) == list(again.customers["user"])  # same pseudonyms


@pytest.mark.parametrize(("code", "exit_code", "fragment"), [
    (errno.EROFS, 2, "Read-only file system; give a path you can use"),
    (errno.EACCES, 2, "Permission denied; give a path you can use"),
    (errno.ENOSPC, 1, "No space left on device"),
])
def test_a_write_that_fails_says_so_in_one_line(workdir: Path, monkeypatch, code: int,
                                                exit_code: int, fragment: str) -> None:
    """Read-only or foreign places are the path's fault (exit 2); a full disk is the machine's
    (exit 1); either way one line, no traceback and no partial run folder."""
    def failing(*_a: object, **_k: object) -> None:
        raise OSError(code, os.strerror(code), "runs/reference/report.html")

    monkeypatch.setattr(outputs, "write_report", failing)
    result = runner.invoke(app, ["run", REFERENCE, *SMALL])
    assert result.exit_code == exit_code
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert list((workdir / "runs" / "reference").iterdir()) == []


def test_sigterm_while_writing_exits_143_and_leaves_nothing(workdir: Path, monkeypatch) -> None:
    from experiments.cli.stopping import Terminated

    def terminated(*_a: object, **_k: object) -> None:
        raise Terminated

    monkeypatch.setattr(outputs, "write_report", terminated)
    result = runner.invoke(app, ["run", REFERENCE, *SMALL])
    assert result.exit_code == 143 and "terminated" in result.stderr
    assert list((workdir / "runs" / "reference").iterdir()) == []


def _as_from_a_terminal() -> None:
    """A test worker (pytest-xdist) ignores SIGINT and its children would inherit that;
    started from a shell, simctl gets the default, as here."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stopped(signum: int, after: float, tmp_path: Path) -> subprocess.CompletedProcess:
    """The real entry point in a child process, sent a signal `after` seconds in (during
    start-up, or during a run long enough that it is still simulating)."""
    command = [sys.executable, "-c", "from experiments.cli import main; main()", "run",
               str(SCENARIOS / "growth.yaml"), "market.size=1000000", "--out", "out"]
    child = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)},
                             preexec_fn=_as_from_a_terminal)
    time.sleep(after)
    child.send_signal(signum)
    out, err = child.communicate(timeout=120)
    return subprocess.CompletedProcess(command, child.returncode, out, err)


@pytest.mark.parametrize(("signum", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                      (signal.SIGTERM, 143, "terminated")])
@pytest.mark.parametrize("after", [0.3, 2.5])
def test_signals_stop_with_one_line(tmp_path: Path, signum: int, code: int, word: str,
                                    after: float) -> None:
    done = _stopped(signum, after, tmp_path)
    assert done.returncode == code, done.stderr[-2000:]
    assert done.stderr.strip() == f"simctl: {word} (exit {code})"
    assert done.stdout == ""
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.*"))


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    """A wrong flag, through the real entry point: one line naming the command, exit 2."""
    done = subprocess.run([sys.executable, "-c", "from experiments.cli import main; main()",
                           "run", REFERENCE, "--bogus"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "simctl run: No such option: --bogus (Possible options: --out) (see simctl run --help)"]


def test_a_stop_python_swallowed_still_stops_before_anything_is_visible(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A Ctrl-C 0.3 s in landed in an import's module-lock callback ("Exception ignored in
    ..."), and the run went on to write its whole folder, exit 0. The handler also records the
    stop: the command stops after the imports, and no writer commits a folder or file."""
    from experiments.cli.stopping import guarded
    from experiments.runs import stop_requests
    from experiments.runs.folders import atomic_write, claim_folder

    def swallowed_during_imports() -> None:
        stop_requests.request(KeyboardInterrupt())  # as the handler does, raise lost

    with pytest.raises(SystemExit) as done:
        guarded(swallowed_during_imports)
    assert done.value.code == 130
    assert capsys.readouterr().err == "simctl: interrupted (exit 130)\n"
    stop_requests.clear()
    try:
        stop_requests.request(KeyboardInterrupt())
        with pytest.raises(KeyboardInterrupt):
            claim_folder(tmp_path, "run", lambda folder: (folder / "a.json").write_text("{}"))
        with pytest.raises(KeyboardInterrupt):
            atomic_write(tmp_path / "b.csv", lambda partial: partial.write_text("x"))
        assert list(tmp_path.iterdir()) == []
    finally:
        stop_requests.clear()
    assert claim_folder(tmp_path, "run", lambda folder: None).name == "run"  # cleared: works
