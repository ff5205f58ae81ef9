"""`simctl export RUN --format csv|xlsx` (导出): a run's tables for teams that live in Excel.
Registered by experiments/cli/commands.py. The summary sheet names each metric in Chinese and
English with its unit; CSV files are UTF-8 with a byte-order mark so that Excel shows 中文."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from experiments.cli.cli_common import check_writable_file, check_writable_folder, cli_errors, err
from experiments.report.language import t
from experiments.runs.folders import atomic_folder, atomic_write
from sim.errors import InputError, Problem
from sim.metrics import METRICS

TABLES = ("metrics", "channel_metrics", "arm_metrics")
# the folders whose own tables go out as they are (summary.json's `kind`; an ab folder of
# before its `kind` is known by its designs and recommendation)
FOLDER_KINDS = ("sweep", "sensitivity", "optimize", "ab", "calibrate", "forecast")
KNOWN = "run, " + ", ".join(FOLDER_KINDS[:-1]) + " or " + FOLDER_KINDS[-1]
EXCEL_ROWS = 1_048_576  # rows of an Excel sheet, the header included


def run_tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    """The folder's tables; a damaged folder (a summary.json or table that does not read) is
    said in one line, as `dashboard` says it, not as a crash."""
    path = run_dir / "summary.json"
    if not path.is_file():
        raise InputError([Problem(str(run_dir), None, "", "not a run folder (no summary.json); "
                                  f"give a folder written by simctl {KNOWN}")])
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError([Problem(str(run_dir), None, "", "the folder is damaged (summary.json "
                                  f"is not JSON: {str(exc)[:120]}); write it again with the "
                                  "command that made it")]) from None
    kind = folder_kind(doc)
    if kind is None:
        said = f"is of kind {doc['kind']!r}" if isinstance(doc, dict) and isinstance(
            doc.get("kind"), str) else "names no kind"
        raise InputError([Problem(str(run_dir), None, "", "not a folder simctl export knows "
                                  f"(its summary.json {said}); give a folder written by "
                                  f"simctl {KNOWN}")])
    try:
        return _tables(run_dir, doc) if kind == "run" else folder_tables(run_dir, kind)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSON, Arrow, fields
        raise InputError([Problem(str(run_dir), None, "", "the folder is damaged (cannot read "
                                  f"{type(exc).__name__}: {str(exc)[:120]}); write it again "
                                  "with the command that made it")]) from None


def folder_kind(doc: object) -> str | None:
    """What wrote the folder: "run" (a summary with per-metric figures and no kind), one of
    FOLDER_KINDS, or None for anything else. By its `kind` first, because a forecast's (or
    any other command's) summary.json may hold a `metrics` list that is not a run's."""
    if not isinstance(doc, dict):
        return None
    kind = doc.get("kind")
    if kind is None and isinstance(doc.get("metrics"), dict):
        return "run"
    if kind is None and "designs" in doc and "recommendation" in doc:
        return "ab"
    return kind if kind in FOLDER_KINDS else None


def _tables(run_dir: Path, doc: dict) -> dict[str, pd.DataFrame]:
    """summary (one row per metric: 中文, unit, mean and interval), unit economics by
    channel, then the daily tables the run wrote (one row per replicate and day)."""
    summary = pd.DataFrame([{"metric": name, "中文": getattr(METRICS.get(name), "zh", ""),
                             "unit": values.get("unit", ""), "mean": values["mean"],
                             "ci_low": values["ci_low"], "ci_high": values["ci_high"],
                             "replicates": values["n"]}
                            for name, values in doc["metrics"].items()])
    economics = pd.DataFrame([{"channel": channel, "measure": name, "mean": v["mean"],
                               "ci_low": v["ci_low"], "ci_high": v["ci_high"]}
                              for channel, measures in doc.get("unit_economics", {}).items()
                              for name, v in measures.items()])
    tables = {"summary": summary, "unit_economics": economics}
    for name in TABLES:
        if (run_dir / f"{name}.parquet").is_file():
            tables[name] = pd.read_parquet(run_dir / f"{name}.parquet")
    return tables


def folder_tables(folder: Path, kind: str) -> dict[str, pd.DataFrame]:
    """The tables another command's folder holds (its Parquet and CSV files, summary first),
    as they are: a sweep's points, an A/B test's replicates, Sobol indices, trials, a
    forecast's weeks. A table kept both ways (forecast.parquet and forecast.csv) goes out
    once, from the Parquet file, which keeps its types."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".parquet", ".csv")
                   and not (p.suffix == ".csv" and p.with_suffix(".parquet").is_file()))
    files.sort(key=lambda p: p.stem != "summary")
    if not files:
        raise InputError([Problem(str(folder), None, "", f"a {kind or 'growthsim'} folder with "
                                  f"no tables to export; give a folder written by simctl {KNOWN}")])
    return {p.stem: pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
            for p in files}


def check_export_folder(target: Path, tables: set[str]) -> None:
    """A csv export replaces its folder, so only an earlier export of these tables (nothing
    but their .csv files) or an empty folder may be there: `--out .` once deleted the
    current folder."""
    check_writable_folder(target)  # a file of that name, or a place that cannot be written
    if target.is_dir():
        foreign = [p.name for p in target.iterdir()
                   if not (p.is_file() and p.suffix == ".csv" and p.stem in tables)]
        if foreign:
            raise InputError([Problem("--out", None, "", f"{target} holds other files "
                                      f"({foreign[0]}, ...) and an export replaces the whole "
                                      "folder; give a new or empty folder")])


def export(
    run_dir: Annotated[Path, typer.Argument(help="A folder printed by simctl run (or sweep, "
                                            "sensitivity, optimize, ab, calibrate, forecast: "
                                            "their tables as they are).")],
    format_: Annotated[str, typer.Option("--format", help="xlsx (one sheet per table) or "
                                         "csv (a folder of files).")] = "xlsx",
    out: Annotated[Path | None, typer.Option(help="File (xlsx) or folder (csv) to write; "
                                             "default beside the run: RUN/export.xlsx or "
                                             "RUN/export/.")] = None,
) -> None:
    """Export a run's tables to Excel or CSV (导出), summary first with Chinese metric names."""
    with cli_errors():
        if format_ not in ("xlsx", "csv"):
            raise InputError([Problem("--format", None, "", f"{format_!r}; expected xlsx or "
                                      "csv")])
        tables = run_tables(run_dir)
        target = out or run_dir / ("export.xlsx" if format_ == "xlsx" else "export")
        if format_ == "xlsx":
            check_writable_file(target, suffixes=(".xlsx",), example="export.xlsx")
            too_long = [name for name, frame in tables.items() if len(frame) >= EXCEL_ROWS]
            if too_long:
                raise InputError([Problem("--format", None, "", f"table {too_long[0]} has "
                                          f"{len(tables[too_long[0]]):,} rows, more than an "
                                          "Excel sheet holds; use --format csv")])
            atomic_write(target, lambda partial: _write_xlsx(tables, partial))
        else:
            check_export_folder(target, set(tables))
            with atomic_folder(target) as partial:
                for name, frame in tables.items():
                    frame.to_csv(partial / f"{name}.csv", index=False, encoding="utf-8-sig")
        err.print(t(f"exported {', '.join(tables)} -> {target}",
                    f"已导出 {'、'.join(tables)} -> {target}"), markup=False, soft_wrap=True)
        typer.echo(str(target))


def _write_xlsx(tables: dict[str, pd.DataFrame], path: Path) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in tables.items():
            frame.to_excel(writer, sheet_name=name[:31], index=False)
