"""`simctl init` (新建场景): a guided start. It writes a commented scenario for one stage of the
playbook and a market size, from the shipped example of that stage, with every comment kept and
`market.reference_size` set so that seeds, budgets, posts and stock keep their proportions.
Registered by experiments/cli/commands.py."""

from __future__ import annotations

import re
import shlex
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from experiments.cli.cli_common import check_writable_file, cli_errors, err, say_notes
from experiments.runs.folders import atomic_file
from sim.errors import InputError, Problem
from sim.memory import human
from sim.planning import memory_shortfall, users_that_fit
from sim.scenario import Scenario, parse_scenario, scenario_name_from

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
STAGES = {  # stage -> (shipped example, the playbook's words)
    "cold_start": ("cold_start.yaml", "冷启动 cold start: seed users, KOC posts, a new-user gift"),
    "growth": ("growth.yaml", "增长 growth: referral 老带新, group buying 拼团, bargains 砍价, "
               "distributors 分销"),
    "retention": ("retention.yaml", "精细化运营 retention: RFM segments, automations, tiers, "
                  "points, paid membership, community, live streams"),
    "scale": ("scale.yaml", "规模化 scale: supply chain, private label, omnichannel"),
}
# the playbook's Chinese names, as the help lists them beside the English ones
STAGE_NAMES_ZH = {"冷启动": "cold_start", "增长": "growth", "精细化运营": "retention",
                  "规模化": "scale"}
SUFFIXES = (".yaml", ".yml")  # what `simctl run` and `validate` read as a scenario


def shell_word(path: Path | str) -> str:
    """A file name as it is typed after `simctl run`: quoted only when the shell would split
    or expand it (a space, a quote, $ ...); a Chinese name stays as it is."""
    text = str(path)
    return text if re.fullmatch(r"[\w@%+=:,./-]+", text) else shlex.quote(text)


def scenario_text(stage: str, users: int, name: str, path: Path | str | None = None) -> str:
    """The example's text with its name, size and reference size replaced, comments kept;
    its header names `path`, the file written (default <name>.yaml), so that the command it
    gives runs that file."""
    example, words = STAGES[stage]
    text = (SCENARIOS / example).read_text(encoding="utf-8")
    # the example's own commands (`simctl run scenarios/...  # 1M potential users`) are not
    # this file's: the header below gives the one that runs it
    text = re.sub(rf"^#\s+simctl \w+ scenarios/{re.escape(example)}.*\n", "", text,
                  flags=re.MULTILINE).replace("\n#\n#\n", "\n#\n")
    written = int(re.search(r"^  size: (\d+)", text, re.MULTILINE).group(1))  # type: ignore
    text = re.sub(r"^name: .*$", f"name: {name}", text, count=1, flags=re.MULTILINE)
    declared = re.search(r"^  reference_size: \d+", text, re.MULTILINE) is not None
    reference = ("" if declared else f"\n  reference_size: {written}     # the example's "
                 f"quantities are for {written:,} users: rescaled to {users:,} at load")
    text = re.sub(r"^  size: \d+(.*)$", lambda m: f"  size: {users}{m.group(1)}{reference}",
                  text, count=1, flags=re.MULTILINE)
    file = shell_word(path if path is not None else f"{name}.yaml")
    header = (f"# Written by `simctl init --stage {stage} --users {users}` on {date.today()} "
              f"from scenarios/{example}.\n# Stage: {words}.\n# Run it: simctl run "
              f"{file}   (check it first: simctl validate {file})\n\n")
    return header + text


def init(
    stage: Annotated[str | None, typer.Option(
        help="cold_start (冷启动), growth (增长), retention (精细化运营) or scale (规模化).")
    ] = None,
    users: Annotated[int | None, typer.Option(help="Potential users in the market.")] = None,
    out: Annotated[Path | None, typer.Option(help="Scenario file to write (default "
                                             "<stage>_<users>.yaml).")] = None,
) -> None:
    """Write a commented scenario for a stage of the playbook and a market size (asks for what
    is missing when run in a terminal); never overwrites a file."""
    with cli_errors():
        if stage is None and sys.stdin.isatty():
            stage = typer.prompt("Stage: " + ", ".join(STAGES), default="growth")
        if users is None and sys.stdin.isatty():
            users = typer.prompt("Potential users in the market", default=100_000, type=int)
        stage = STAGE_NAMES_ZH.get(stage or "", stage)
        if stage not in STAGES:  # None: not asked (no terminal) and not given
            said = "missing (no terminal to ask in)" if stage is None else repr(stage)
            raise InputError([Problem("--stage", None, "", f"{said}; expected one of "
                                      f"{', '.join(STAGES)}")])
        if users is None or users < 1:
            said = "missing (no terminal to ask in)" if users is None else str(users)
            raise InputError([Problem("--users", None, "", f"{said}; expected a number of "
                                      "potential users, e.g. --users 100000")])
        target = out or Path(f"{stage}_{users}.yaml")
        if target.exists():
            raise InputError([Problem("--out", None, "", f"{target} exists; give another file "
                                      "name (init never overwrites)")])
        check_writable_file(target, suffixes=SUFFIXES, example=f"{stage}_{users}.yaml")
        text = scenario_text(stage, users, scenario_name_from(target.stem), target)
        scenario = parse_scenario(text, str(target))  # what is written must load
        check_fits(scenario, users)
        atomic_file(target, text)
        say_notes(scenario)
        err.print(f"{target}: {STAGES[stage][1]}; {users:,} users × {scenario.days} days",
                  markup=False, soft_wrap=True)
        typer.echo(str(target))


def check_fits(scenario: Scenario, users: int) -> None:
    """Refuse, as `simctl validate` and `run` would (sim.planning.check_memory), a market too
    large for the memory available now: written, the scenario could only be rejected later.
    Said for --users, the option that sets its size, with a size that fits: the estimate is
    fixed bytes (the process, the daily counters) plus bytes per user."""
    short = memory_shortfall(scenario)
    if short is None:
        return
    (need, have), fits = short, users_that_fit(scenario, short[1])
    hint = f"give fewer users, e.g. --users {fits}" if fits >= 1 else "free some memory"
    raise InputError([Problem("--users", None, "", f"{users:,} users need about {human(need)} "
                              f"but only {human(have)} is available here (simctl validate "
                              f"would refuse the scenario); {hint}, or set "
                              "GROWTHSIM_MEMORY_LIMIT_MB to the memory of the machine it will "
                              "run on")])
