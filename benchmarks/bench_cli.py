"""Issue 17 benchmark: what `simctl run` costs around the simulation, whole process.

Each run is a fresh `simctl run SCENARIO --quiet` process; its overhead is the process's wall
time minus the run's own `wall_seconds` (simulation and aggregation, from summary.json):
interpreter start-up, imports, scenario validation, the report and the files. Also the import
time of the run path alone, and of every command (what `simctl run` loaded before it had an
app of its own). Medians of RUNS runs. Target: overhead <= 1 s at 1M users.

Python's bytecode cache is on in these processes, as on a user's machine (the warm-up run
fills `__pycache__`): a shell with PYTHONDONTWRITEBYTECODE set, as on our build VM, compiles
the project's ~150 modules in every process, about 0.1 s more. `simctl run` ends without the
interpreter's teardown (experiments/cli/__init__.py), 0.13-0.15 s at 1M users before.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import machine  # noqa: E402

RUNS = 5
CACHED = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
SIMCTL = [sys.executable, "-c", "from experiments.cli import main; main()"]
CASES = {"reference 1M x 365": ("reference.yaml", "market.size=1000000"),
         "growth 1M x 365 (a quiet bargain in the report)": ("growth.yaml",
                                                             "market.size=1000000"),
         "scale 1M x 365 (graph from the store)": ("scale.yaml", "market.size=1000000")}


def one_run(scenario: str, *overrides: str) -> tuple[float, float]:
    """(process seconds, the run's own seconds) of one whole `simctl run`."""
    out = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    started = time.perf_counter()
    subprocess.run([*SIMCTL, "run", str(ROOT / "scenarios" / scenario), *overrides, "--quiet",
                    "--out", str(out)], check=True, capture_output=True, env=CACHED)
    seconds = time.perf_counter() - started
    (summary,) = out.glob("*/*/summary.json")
    run_seconds = float(json.loads(summary.read_text())["wall_seconds"])
    shutil.rmtree(out)
    return seconds, run_seconds


def import_seconds(statement: str) -> float:
    """Median wall time of a fresh interpreter running `statement`, less one running `pass`."""
    def timed(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=CACHED)
        return time.perf_counter() - started
    timed(statement)  # fills the bytecode cache
    bare = statistics.median(timed("pass") for _ in range(RUNS))
    return statistics.median(timed(statement) for _ in range(RUNS)) - bare


def main() -> dict:
    cases = {}
    for label, (scenario, *overrides) in CASES.items():
        one_run(scenario, *overrides)  # warm-up: page cache, and the graph store filled
        runs = [one_run(scenario, *overrides) for _ in range(RUNS)]
        process = statistics.median(r[0] for r in runs)
        simulation = statistics.median(r[1] for r in runs)
        overhead = statistics.median(r[0] - r[1] for r in runs)
        cases[label] = {"process_seconds": process, "run_seconds": simulation,
                        "overhead_seconds": overhead, "all": runs}
        print(f"{label}: whole process {process:.2f} s, run {simulation:.2f} s, "
              f"overhead {overhead:.2f} s (median of {RUNS})", flush=True)
    imports = {"run path (experiments.cli.run_cli)": import_seconds(
                   "import experiments.cli.run_cli"),
               "every command (experiments.cli.commands)": import_seconds(
                   "import experiments.cli.commands")}
    for label, seconds in imports.items():
        print(f"import time, {label}: {seconds:.2f} s", flush=True)
    return {"what": __doc__.splitlines()[0], "runs": RUNS, "cases": cases,
            "import_seconds": imports, "machine": machine()}


if __name__ == "__main__":
    data = main()
    (ROOT / "benchmarks" / "results" / "cli.json").write_text(json.dumps(data, indent=2))
