"""Pieces every `simctl` command shares: the stderr console, error handling and progress.

Errors: bad input -> located one-line messages and exit 2; Ctrl-C -> 130; anything else -> a
one-line failure and exit 1 (the traceback only with --debug).
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from experiments.cli.stopping import Terminated, say_stopped, stop_code
from experiments.report.language import ENV as LANG_ENV
from experiments.report.language import current, parse_lang, set_language, t
from sim.compliance import check_compliance
from sim.errors import InputError, Problem
from sim.overrides import OptionOverride, refuse_twice
from sim.scenario import Scenario

LOG_WIDTH = 200  # columns for stderr that is a file or a pipe


def _stderr_console() -> Console:
    """The stderr console. Where stderr is a file or a pipe (a log, CI, a notebook's
    `!simctl`) rich assumes 80 columns and cuts table cells to '20,0…': numbers nobody can
    read. There tables get up to LOG_WIDTH columns (COLUMNS, when set, still decides)."""
    console = Console(stderr=True, highlight=False)
    if console.is_terminal or os.environ.get("COLUMNS", "").strip():
        return console
    return Console(stderr=True, highlight=False, width=LOG_WIDTH)


err = _stderr_console()
STATE = {"debug": False}

@contextmanager
def cli_errors() -> Iterator[None]:
    """Bad input -> its located one-line messages and exit 2; Ctrl-C -> 130; bugs -> 1."""
    try:
        yield
    except InputError as exc:
        for problem in exc.problems:
            err.print(problem.text(current() == "zh"), markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except (KeyboardInterrupt, Terminated) as exc:
        code = stop_code(exc)
        say_stopped(code)
        raise typer.Exit(code) from None
    except (typer.Exit, typer.Abort):
        raise
    except OSError as exc:
        if exc.errno not in WRONG_PATH_ERRNOS:
            raise _failed(exc) from None
        where = exc.filename or "a path on the command line"
        err.print(f"simctl: {where}: {exc.strerror}; give a path you can use (for --out, a "
                  "folder you can write)", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except Exception as exc:
        raise _failed(exc) from None


def _failed(exc: Exception) -> typer.Exit:
    """A bug or a failing machine (a full disk): one line and exit 1, or the traceback with
    --debug."""
    if STATE["debug"]:
        raise exc
    err.print(f"simctl: failed: {type(exc).__name__}: {exc} (run with --debug for the "
              "traceback)", markup=False, soft_wrap=True)
    return typer.Exit(1)


# Write errors that mean the path given was wrong (exit 2, like other bad input); a full disk
# or a quota is the machine's failure (exit 1), said in one line all the same.
WRONG_PATH_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.EEXIST, errno.EISDIR,
                     errno.ENOTDIR, errno.ENAMETOOLONG}


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _refuse(option: str, message: str) -> InputError:
    return InputError([Problem(option, None, "", message)])


def check_writable_folder(path: Path, option: str = "--out") -> None:
    """Refuse, before any work, an output folder that cannot be made or written (a file of
    that name, a read-only or foreign place), so an hour's run never dies at the last step."""
    if path.exists() and not path.is_dir():
        raise _refuse(option, f"{path} is a file; give a folder (it is made if missing), "
                      f"e.g. {option} runs")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise _refuse(option, f"{base} is a file, so {path} cannot be made; give a folder")
    if not os.access(base, os.W_OK | os.X_OK) or not _can_create_in(base):
        raise _refuse(option, f"cannot write in {base} (read-only or not yours); give a "
                      "folder you can write")


def _can_create_in(folder: Path) -> bool:
    """Whether a file can really be made there: `os.access` says yes to root everywhere,
    /proc and read-only mounts included. An anonymous temporary file leaves nothing behind."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def check_writable_file(path: Path, option: str = "--out", *,
                        inputs: Iterable[Path | str | None] = (), suffixes: tuple[str, ...] = (),
                        example: str = "dashboard.html") -> None:
    """The same for one output file: not an existing folder, its folder writable, none of the
    command's `inputs` (writing the report over the data it reads loses the data), not the
    data or report of a folder simctl wrote, and named for what the command writes
    (`suffixes`)."""
    if path.is_dir():
        raise _refuse(option, f"{path} is a folder; give a file name, e.g. {path / example}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise _refuse(option, f"{path.name}: this command writes {' or '.join(suffixes)} "
                      f"files; give a name ending so, e.g. {example}")
    if path.exists():
        _not_an_input(path, inputs, option)
        if _part_of_a_folder_we_wrote(path):
            raise _refuse(option, f"{path} is part of the folder {path.parent} that simctl "
                          "wrote (its data and report); write somewhere else")
        if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:  # root: no bits
            raise _refuse(option, f"cannot overwrite {path} (read-only); give another file")
    if path.parent.exists() and not path.parent.is_dir():
        raise _refuse(option, f"{path.parent} is a file, so {path} cannot be written; give a "
                      f"file name in a folder, e.g. {example}")
    check_writable_folder(path.parent, option)


# A folder with a summary.json is a run, calibration or forecast folder: its data files and
# its report are what later commands read; exports beside them (.csv, .xlsx) may be redone.
FOLDER_DATA_SUFFIXES = (".parquet", ".json", ".yaml", ".yml")
FOLDER_PAGES = ("report.html", "forecast.html")


def _part_of_a_folder_we_wrote(path: Path) -> bool:
    return (path.parent / "summary.json").is_file() and (
        path.suffix.lower() in FOLDER_DATA_SUFFIXES or path.name in FOLDER_PAGES)


def _not_an_input(path: Path, inputs: Iterable[Path | str | None], option: str) -> None:
    for given in inputs:
        if given is not None and Path(given).exists() and path.samefile(given):
            raise _refuse(option, f"{path} is what this command reads; writing over it would "
                          "lose it: give another file name")


class LazyProgress:
    """A progress bar on stderr that appears only once work has taken more than a second."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self.done, self.start, self.bar = 0, time.perf_counter(), None

    def __call__(self, advance: int) -> None:
        self.done += advance
        if not self.enabled:
            return
        if self.bar is None and time.perf_counter() - self.start > 1.0:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.completed}/{task.total} days"),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                                transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total, completed=self.done)
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


OverridesArg = Annotated[
    list[str] | None,
    typer.Argument(help="Overrides as dotted.path=value, e.g. market.size=1000000."),
]


def command_line_overrides(scenario_file: Path | str, overrides: list[str] | None,
                           **flags: object) -> list[str]:
    """The overrides typed after the scenario and the options that stand for overrides
    (--days, --seed, --replicates), a field given twice among them refused."""
    given = [*(overrides or []), *flag_overrides(**flags)]
    refuse_twice(given, str(scenario_file))
    return given


def flag_overrides(**flags: object) -> list[str]:
    """The common options (--days, --seed, --replicates) as the overrides they stand for
    (messages about them name the option)."""
    return [OptionOverride(key, value, f"--{key}") for key, value in flags.items()
            if value is not None]


DaysOption = Annotated[int | None, typer.Option(help="Horizon in days (overrides days).")]
SeedOption = Annotated[int | None, typer.Option(help="Random seed (overrides seed).")]

LangOption = Annotated[str | None, typer.Option(
    "--lang", envvar=LANG_ENV, show_envvar=True,
    help="Language of the report, the dashboard and the summary lines: en or zh (中文). The "
    "setting GROWTHSIM_LANG does the same for every command.")]


def choose_language(value: str | None) -> None:
    """Set the language for the rest of the command (None: English, or GROWTHSIM_LANG)."""
    try:
        set_language(parse_lang(value))
    except ValueError:
        raise _refuse("--lang", f"{value!r} is not a language growthsim writes; use en or "
                      "zh (中文), on the command line or in GROWTHSIM_LANG") from None


def enforce_compliance(scenario: Scenario, strict: bool) -> list[Problem]:
    """Platform-rule and legal findings: errors stop the command (exit 2), warnings are shown on
    stderr, or stop it too with --strict. Returns the warnings that were let through."""
    findings = check_compliance(scenario)
    stopping = [f for f in findings if f.severity == "error" or strict]
    if stopping:
        raise InputError([replace(f, severity="error") for f in stopping])  # keeps f.zh
    chinese = current() == "zh"
    for warning in findings:
        err.print(warning.text(chinese), markup=False, soft_wrap=True)
    return findings


StrictOption = Annotated[bool, typer.Option(
    "--strict", help="Treat platform-rule warnings (e.g. induced sharing) as errors.")]


def say_notes(scenario: Scenario) -> Scenario:
    """Print what loading left out (dated things past a horizon shortened on the command
    line), one located line each, and hand the scenario on."""
    chinese = current() == "zh"
    for note in scenario.notes:
        err.print(note.text(chinese), markup=False, soft_wrap=True)
    return scenario


def say_data_notes(command: str, notes: list[str], quiet: bool) -> None:
    """Each note on the observed data (e.g. days without new_users replayed as 0 arrivals)
    once, as `COMMAND: note: ...` on stderr (calibrate, forecast, customers)."""
    if quiet:
        return
    for note in dict.fromkeys(notes):  # a Note says itself in the language in force
        said = note.said() if hasattr(note, "said") else note
        err.print(f"{command}" + t(": note: ", "：说明：") + said, markup=False, soft_wrap=True)


def renamed_option(new: str, old: str, value: str | None, old_value: str | None) -> str | None:
    """An option renamed for consistency across commands: the value given under either name
    (None: neither); both at once is a mistake. `say_renamed` then prints the note, once the
    value has been checked (an error comes before any note)."""
    if value is not None and old_value is not None:
        raise InputError([Problem(old, None, "", f"given with {new}, its new name; give only "
                                  f"{new}", zh=f"与新名称 {new} 同时给出；只给 {new}")])
    return value if value is not None else old_value


def say_renamed(new: str, old: str, old_value: str | None, why: str, why_zh: str) -> None:
    """The note that an old option name was used: it still works (scripts keep running)."""
    if old_value is not None:
        err.print(t(f"note: {old} is now {new} ({why}); {old} still works but will go in a "
                    "later release", f"说明：{old} 已改名为 {new}（{why_zh}）；{old} 暂仍可用，"
                    "以后的版本将去掉"), markup=False, soft_wrap=True)
