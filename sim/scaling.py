"""Scenarios that scale: a scenario written for one market size keeps its story at another.
With `market.reference_size` set, every absolute quantity a mechanic declares in its
`scaled_fields` (seed users, ad budgets, a post's reach and cost, opening stock, a stream's
fixed cost) is multiplied by market.size / reference_size before validation, so growth.yaml at
20,000 users has 400 seed users instead of a market made only of seeds. Rates, shares, prices
and platform caps are not touched. A value set by an override is the user's word for this
market and is kept as given."""

from __future__ import annotations

from typing import Any

from sim.errors import Problem
from sim.mechanics import REGISTRY
from sim.yaml_lines import Path, dotted, line_for

Scaled = dict[Path, tuple[float, float, int]]  # path -> (written value, scaled, reference)


def rescale(data: dict[str, Any], source: str, lines: dict[Path, int],
            overridden: dict[Path, str], scaled: Scaled | None = None,
            ) -> tuple[dict[str, Any], list[Problem]]:
    """The data with scaled fields in proportion to the market, and one note saying so (in
    English and Chinese). `scaled`, if given, receives each changed value (so a warning about
    one can say it was scaled)."""
    market = data.get("market")
    if not isinstance(market, dict):
        return data, []
    size, reference = market.get("size"), market.get("reference_size")
    if not (_positive_int(size) and _positive_int(reference)) or size == reference:
        return data, []
    factor = size / reference
    changed: list[str] = []
    mechanics = data.get("mechanics")
    for name, mech in mechanics.items() if isinstance(mechanics, dict) else []:
        kind = mech.get("type") if isinstance(mech, dict) else None
        if kind not in REGISTRY:
            continue  # validation reports it
        for pattern in sorted(REGISTRY[kind][0].scaled_fields):
            for path, parent, key in _matches(mech, pattern.split("."), ("mechanics", name)):
                if any(path[:cut] in overridden for cut in range(1, len(path) + 1)):
                    continue
                old = parent[key]
                if old < 0:  # validation refuses it as written (scaled, -5 read as 0 and ran)
                    continue
                parent[key] = _scaled(old, factor)
                changed.append(f"{dotted(path)} {old:,} -> {parent[key]:,}")
                if scaled is not None:
                    scaled[path] = (old, parent[key], reference)
    market["reference_size"] = size  # the values now are for this market: never scaled twice
    if not changed:
        return data, []
    message = (f"market.size {size:,} is {factor:.4g} x market.reference_size {reference:,}: "
               f"scaled in proportion: {'; '.join(changed)}")
    zh = (f"market.size {size:,} 是 market.reference_size {reference:,} 的 {factor:.4g} 倍："
          f"以下数值已按比例缩放：{'；'.join(changed)}")
    return data, [Problem(source, line_for(("market", "reference_size"), lines),
                          "market.reference_size", message, "note", zh)]


def said_scaled(path: Path, en: str, zh: str, scaled: Scaled) -> tuple[str, str]:
    """A warning about a value the market's size scaled says where the value came from (a
    post reaching 9 people read as the file's own number)."""
    if path not in scaled:
        return en, zh
    written, now, reference = scaled[path]
    bigger = path[-1] != "count"  # more seeds in a bigger market fill it all the same
    return (f"{en} ({now:,} is the file's {written:,} scaled from market.reference_size "
            f"{reference:,} to this market.size{'; or run a bigger market' if bigger else ''})",
            f"{zh}（{now:,} 由文件中的 {written:,} 按 market.reference_size {reference:,} "
            f"缩放到当前 market.size 而来{'；也可以模拟更大的市场' if bigger else ''}）")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _scaled(value: int | float, factor: float) -> int | float:
    """Whole numbers stay whole (and a positive one stays at least 1)."""
    if isinstance(value, int):
        return max(1, round(value * factor)) if value > 0 else 0
    return value * factor


def _matches(node: Any, parts: list[str], path: Path) -> list[tuple[Path, Any, Any]]:
    """(path, parent, key) of every number at a dotted pattern; `*` is any list item or key."""
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list):
        keys = list(range(len(node))) if head == "*" else []
    else:
        return []
    found: list[tuple[Path, Any, Any]] = []
    for key in keys:
        child = node[key]
        if rest:
            found += _matches(child, rest, (*path, key))
        elif isinstance(child, int | float) and not isinstance(child, bool):
            found.append(((*path, key), node, key))
    return found
