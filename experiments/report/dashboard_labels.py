"""One short label per run of a dashboard: its scenario name (when the names differ) and the
settings that tell it apart from the other runs, those that tell it apart from the runs of the
same scenario first (`#2 growth: referral.reward_referrer=20, days=90, seed=3 (+93)`), so that
two runs that differ never read alike however many settings their scenarios differ in.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from experiments.report.dashboard import RunFolder

LABEL_SETTINGS = 3  # settings named in a run's label; the rest are counted
FIRST = ("market.size", "days", "seed", "replicates")  # named first when they differ
IGNORED = ("name", "description")  # the name leads the label; a description is prose


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_leaves(value, f"{prefix}{key}."))
        return out
    if isinstance(data, list):
        out = {}
        for i, value in enumerate(data):
            out.update(_leaves(value, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): data}


def _short(key: str, keys: list[str]) -> str:
    """The shortest tail of at least two parts of a dotted key that no other differing key
    shares (`mechanics.gift.value` -> `gift.value`)."""
    parts = key.split(".")
    for n in range(min(2, len(parts)), len(parts) + 1):
        tail = ".".join(parts[-n:])
        if not any((other != key and other.endswith("." + tail)) or other == tail
                   for other in keys):
            return tail
    return key


def _value(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 16 else text[:15] + "…"


def _order(key: str) -> tuple[bool, int, int, str]:
    """Size, horizon, seed and replicates first, then shallow keys before deep ones."""
    return key not in FIRST, FIRST.index(key) if key in FIRST else 0, key.count("."), key


def _differing(leaves: list[dict[str, str]]) -> list[str]:
    """Keys whose value is not the same in every one of `leaves`, in label order."""
    keys = {k for leaf in leaves for k in leaf if k not in IGNORED}
    return sorted((k for k in keys if len({leaf.get(k, "null") for leaf in leaves}) > 1),
                  key=_order)


def _distinguishing(mine: dict[str, str], others: list[dict[str, str]],
                    keys: list[str]) -> list[str]:
    """Keys that tell a run from `others` (the other runs of its scenario), greedily: the key
    that sets it apart from most of the runs not yet told apart, ties in label order."""
    left = [o for o in others if any(o.get(k, "null") != mine.get(k, "null") for k in keys)]
    chosen: list[str] = []
    while left:
        best = max((k for k in keys if k not in chosen), key=lambda k: (
            sum(o.get(k, "null") != mine.get(k, "null") for o in left), -keys.index(k)))
        chosen.append(best)
        left = [o for o in left if o.get(best, "null") == mine.get(best, "null")]
    return chosen


def _text(name: str, leaf: dict[str, Any], keys: list[str], differing: list[str],
          several_names: bool) -> str:
    shown = ", ".join(f"{k if k in FIRST else _short(k, differing)}={_value(leaf.get(k, '–'))}"
                      for k in keys)
    more = f" (+{len(differing) - len(keys)})" if len(differing) > len(keys) else ""
    return f"{name}: {shown}{more}" if several_names else shown + more


def label_runs(runs: list[RunFolder]) -> None:
    """Label each run, in one short line, by its scenario name (when the names differ) and the
    settings that differ between the runs: `gift.value=20, seed=2 (+3)`. The settings that
    tell a run from the runs of the same scenario come first; a label names more than
    LABEL_SETTINGS settings only where fewer would read like another run's, and runs alike in
    every setting are told by their folders. Settings the engine derived from another one (a
    rescaled budget after market.size) count in the "+n"."""
    raw = [_leaves(r.scenario) for r in runs]
    leaves = [{k: json.dumps(v, default=str) for k, v in leaf.items()} for leaf in raw]
    names = [str(r.scenario.get("name", r.folder.name)) for r in runs]
    several_names = len(set(names)) > 1
    differing = _differing(leaves)
    order, needed = [], []
    for i, name in enumerate(names):
        group = [j for j, other in enumerate(names) if other == name]
        within = _differing([leaves[j] for j in group])
        first = _distinguishing(leaves[i], [leaves[j] for j in group if j != i], within)
        order.append(list(dict.fromkeys([*first, *within, *differing])))
        needed.append(len(first))
    labels = [_text(n, raw[i], order[i][:LABEL_SETTINGS], differing, several_names)
              for i, n in enumerate(names)]
    alike = {label for label in labels if labels.count(label) > 1}
    for i, name in enumerate(names):  # alike: name every setting that tells them apart
        if labels[i] in alike and needed[i] > LABEL_SETTINGS:
            labels[i] = _text(name, raw[i], order[i][:needed[i]], differing, several_names)
    for i, run in enumerate(runs):
        if not differing:
            text = f"{names[i]} ({run.folder.name})"
        elif labels.count(labels[i]) > 1:  # alike in every setting: told by their folders
            text = f"{labels[i]} ({run.folder.name})"
        else:
            text = labels[i]
        run.label = f"#{i + 1} {text}"
