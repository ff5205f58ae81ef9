"""Regenerate the reference tables in docs/ from the code (one source of truth).

`python docs/generate.py` rewrites the text between `<!-- generated:NAME -->` and
`<!-- /generated:NAME -->` markers; `--check` exits 1 if any table is out of date (the test
suite runs it that way).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sim.events import REBUILT_STOCKS
from sim.mechanics import REGISTRY
from sim.metrics import COHORT_METRICS, METRICS, counter_columns
from sim.scenario import Arm, Experiment, Market, Scenario

DOCS = Path(__file__).resolve().parent


def _recorded_levels() -> dict[str, str]:
    """Stocks a mechanic records at the end of each day (no event carries them): stock name
    -> the mechanic type that records it."""
    return {stock: name for name, (_, cls) in REGISTRY.items() for stock in cls.stocks
            if stock not in REBUILT_STOCKS}


def metrics_table() -> str:
    levels = _recorded_levels()
    rows = ["| metric | 中文 | unit (over the horizon) | 单位 | kind | definition | "
            "from events.parquet |", "|---|---|---|---|---|---|---|"]
    for m in METRICS.values():
        recorded = sorted(counter_columns(m.name) & set(levels))
        log = "yes" if not recorded else "no: a level " + ", ".join(
            f"{levels[s]} records each day (`{s}`)" for s in recorded)
        rows.append(f"| `{m.name}` | {m.zh} | {m.unit} | {m.zh_unit} | {m.kind} | "
                    f"{m.description} | {log} |")
    return "\n".join(rows)


def cohort_table() -> str:
    rows = ["| metric | unit | definition |", "|---|---|---|"]
    rows += [f"| `{name}` | {unit} | {text} |" for name, (unit, text) in COHORT_METRICS.items()]
    return "\n".join(rows)


def fields_table(model: type[BaseModel], prefix: str = "", recurse: bool = True) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        nested = _nested_models(annotation) if recurse else []
        if field.is_required():
            default = "required"
        elif field.default_factory is not None:
            default = f"`{_show(field.default_factory())}`"
        else:
            default = f"`{_show(field.default)}`"
        limits = ", ".join(f"{k} {v}" for k, v in _limits(field).items())
        if name == "type":
            continue
        kind = "mapping: name -> mechanic" if name == "mechanics" else _type_name(annotation)
        rows.append(f"| `{prefix}{name}` | {kind} | {default} | {limits} | "
                    f"{field.description or ''} |")
        for sub in nested:
            rows += fields_table(sub, f"{prefix}{name}.")
    return rows


def scenario_tables() -> str:
    head = ["| field | type | default | limits | meaning |", "|---|---|---|---|---|"]
    parts = ["### Top level", "", *head, *fields_table(Scenario, recurse=False), "",
             "### `market`", "", *head, *fields_table(Market), "",
             "### `experiment`", "", *head, *fields_table(Experiment), "",
             "### `experiment.arms[]`", "", *head, *fields_table(Arm), ""]
    for type_name, (params, cls) in REGISTRY.items():
        doc = (sys.modules[cls.__module__].__doc__ or "").strip().split("\n\n")[0]
        parts += [f"### Mechanic `type: {type_name}` (stage: {cls.stage.name.lower()})", "",
                  doc.replace("\n", " "), "", *head, *fields_table(params), ""]
        if params.fixed_fields:
            fixed = ", ".join(f"`{f}`" for f in sorted(params.fixed_fields))
            parts += [f"One value for the whole market (an arm's or persona's `set` of it is "
                      f"refused): {fixed}.", ""]
    return "\n".join(parts).rstrip()


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out = []
    for arg in getattr(annotation, "__args__", ()) or ():
        out += _nested_models(arg)
    return out


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    text = re.sub(r"(typing\.|sim\.[\w.]+\.|<class '|'>)", "", str(annotation)) \
        if text == str(annotation) or "[" in str(annotation) else text
    return text.replace("|", "or")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _limits(field: Any) -> dict[str, Any]:
    out = {}
    for meta in field.metadata:
        for key, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(meta, key, None) is not None:
                out[sign] = getattr(meta, key)
    return out


GENERATORS = {"metrics.md": {"metrics": metrics_table, "cohort": cohort_table},
              "scenarios.md": {"fields": scenario_tables}}


def render(path: Path, blocks: dict[str, Any]) -> str:
    text = path.read_text(encoding="utf-8")
    for name, make in blocks.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)",
                             re.S)
        if not pattern.search(text):
            raise SystemExit(f"{path}: missing markers for generated block {name!r}")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main(check: bool) -> int:
    stale = []
    for file_name, blocks in GENERATORS.items():
        path = DOCS / file_name
        new = render(path, blocks)
        if new != path.read_text(encoding="utf-8"):
            stale.append(file_name)
            if not check:
                path.write_text(new, encoding="utf-8")
    if check and stale:
        print(f"out of date: {', '.join(stale)} (run python docs/generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv))
