"""`simctl power` through a small Typer app: exit codes, stdout/stderr split, JSON shape."""

from __future__ import annotations

import json
import shlex
import typing

import pytest
import typer
from typer.testing import CliRunner

from experiments.cli.power_cli import power

app = typer.Typer()
app.command("power")(power)


@app.command("noop")
def _noop() -> None:
    """Second command so Typer keeps `power` as a named subcommand."""


runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["power", *args])
    return result.exit_code, result.stdout, result.stderr


FULL_EXAMPLE = shlex.split(
    "--metric proportion --baseline 0.05 --mde 0.1 --relative --power 0.8 --alpha 0.05 "
    "--sides 2 --variance pooled --arms 3 --correction holm --daily-traffic 20000 "
    "--allocation 0.5 --round-weeks --cuped-r 0.5 --icc 0.01 --cluster-size 50 "
    "--cluster-cv 0.3 --sequential obrien-fleming --looks 4"
)


def test_json_output_is_one_object_with_labelled_mde() -> None:
    code, out, err = run(*FULL_EXAMPLE, "--json")
    assert code == 0, err
    assert err == ""
    payload = json.loads(out)  # exactly one JSON document
    assert out.strip().count("\n") == 0
    assert payload["solved_for"] == "n"
    assert payload["mde_input_scale"] == "relative"
    assert payload["mde_relative"] == pytest.approx(0.1)
    assert payload["mde_absolute"] == pytest.approx(0.005)
    assert payload["correction"] == "holm"
    assert payload["sequential"]["method"] == "obrien-fleming"
    assert len(payload["sequential"]["critical_values"]) == 4
    assert payload["clusters_control"] == -(-payload["n_control_units"] // 50)
    assert payload["days_rounded"] % 7 == 0
    assert payload["variance_formula"].startswith("pooled")
    assert any("false-positive rate" in w for w in payload["warnings"])


def test_human_output_is_a_table_on_stdout() -> None:
    code, out, err = run(*FULL_EXAMPLE)
    assert code == 0, err
    assert err.startswith("warning: peeking at 4 equally spaced looks")  # for people: stderr
    assert "warning" not in out  # `> plan.txt` keeps the answer alone
    assert "solved for sample size" in out
    assert "MDE (relative)" in out and "MDE (absolute)" in out
    assert "group-sequential boundaries" in out
    assert "holm sized at its first step" in out


def test_solve_for_power_and_mde() -> None:
    code, out, _ = run("--metric", "mean", "--sd", "10", "--n", "1000", "--mde", "1", "--json")
    assert code == 0
    assert json.loads(out)["solved_for"] == "power"
    code, out, _ = run(
        "--metric", "count", "--baseline", "2", "--n", "5000", "--power", "0.8", "--json"
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["solved_for"] == "mde" and payload["mde_absolute"] > 0


def test_days_with_traffic_solves_power() -> None:
    code, out, err = run(
        "--metric",
        "ratio",
        "--num-mean",
        "30",
        "--den-mean",
        "1.5",
        "--num-var",
        "900",
        "--den-var",
        "1",
        "--num-den-cov",
        "20",
        "--days",
        "14",
        "--daily-traffic",
        "5000",
        "--mde",
        "0.5",
        "--json",
    )
    assert code == 0, err
    payload = json.loads(out)
    assert payload["n_total_units"] == 70000
    assert payload["days"] == 14


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (
            ["--metric", "proportion", "--baseline", "1.2", "--mde", "0.1", "--power", "0.8"],
            "baseline",
        ),
        (["--metric", "proportion", "--baseline", "0.95", "--mde", "0.1", "--power", "0.8"], "mde"),
        (
            [
                "--metric",
                "proportion",
                "--baseline",
                "0.05",
                "--mde",
                "0.00000001",
                "--power",
                "0.8",
            ],
            "mde",
        ),
        (["--metric", "proportion", "--baseline", "0.05", "--mde", "0.01"], "solve-for"),
        (
            [
                "--metric",
                "proportion",
                "--baseline",
                "0.05",
                "--sd",
                "2",
                "--mde",
                "0.01",
                "--power",
                "0.8",
            ],
            "sd",
        ),
        (["--metric", "mean", "--mde", "0.01", "--power", "0.8"], "sd"),
        (["--metric", "mean", "--sd", "1", "--days", "7", "--mde", "0.1"], "daily-traffic"),
        (
            ["--metric", "mean", "--sd", "1", "--mde", "0.1", "--power", "0.8", "--round-weeks"],
            "round-weeks",
        ),
        (
            [
                "--metric",
                "mean",
                "--sd",
                "1",
                "--mde",
                "0.1",
                "--power",
                "0.8",
                "--treatment-ratio",
                "lots",
            ],
            "treatment-ratio",
        ),
        (
            [
                "--metric",
                "mean",
                "--sd",
                "1",
                "--mde",
                "0.1",
                "--power",
                "0.8",
                "--sequential",
                "pocock",
            ],
            "looks",
        ),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_exit_2(args: list[str], field: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1
    assert err.startswith(f"simctl power: {field}: ")
    assert "Traceback" not in err



def test_help_states_the_defaults_that_change_the_answer() -> None:
    """--test, --variance and --count-model default to None in the signature (each metric has
    its own default), so Typer shows none: the help must say them. The answer differs: a mean
    of SD 1 and MDE 1 at 90% power needs 21.01 units with z and 22.02 (R power.t.test) with t."""
    from experiments.cli import power_options

    def help_of(option: object) -> str:
        return typing.get_args(option)[1].help

    assert "Means: z (default) or t" in help_of(power_options.TestOption)
    assert "Proportions: pooled (default" in help_of(power_options.VarianceOption)
    assert "counts: unpooled (default)" in help_of(power_options.VarianceOption)
    assert "Counts: poisson (default)" in help_of(power_options.CountModelOption)
    z = json.loads(run("--metric", "mean", "--sd", "1", "--mde", "1", "--power", "0.9",
                       "--json")[1])
    t = json.loads(run("--metric", "mean", "--sd", "1", "--mde", "1", "--power", "0.9",
                       "--test", "t", "--json")[1])
    assert round(z["n_control"], 2) == 21.01 and round(t["n_control"], 2) == 22.02
