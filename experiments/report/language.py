"""The language of the pages and the CLI's summary lines: English or 中文 (issue 19).

Set once per command (`simctl --lang zh ...`, `--lang` on the commands that write pages, or the
setting `GROWTHSIM_LANG=zh`) and read wherever a word is written, so that no page function
carries a language argument: `t("Business health", "经营健康")` keeps both texts side by side,
where a reviewer sees them together. Metric names and units come from each metric's definition
(`Metric.zh`, `Metric.zh_unit`); in Chinese the snake_case name stays beside the Chinese one,
because it is what `--metrics`, overrides and summary.json use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
ENV = "GROWTHSIM_LANG"

_current: ContextVar[Lang | None] = ContextVar("growthsim_lang", default=None)

# The report groups the mechanics declare (`Metric.group`), in Chinese.
GROUPS_ZH = {
    "Lifecycle states": "生命周期状态", "Segment sizes": "分层人数", "Automations": "自动化触达",
    "Membership tiers": "会员等级", "Points": "积分", "Paid membership": "付费会员",
    "Community groups vs other users": "社群用户与其他用户", "Recommendations": "个性化推荐",
    "Live streams": "直播带货", "Stock and service": "库存与履约",
    "新品内测 Early access": "新品内测",
}


def parse_lang(value: str | None) -> Lang | None:
    """'zh', 'zh-CN', 'en_US' ... as a language; None for None or ''; ValueError otherwise."""
    if not value:
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    if code not in LANGS:
        raise ValueError(f"language {value!r}: use en or zh")
    return code  # type: ignore[return-value]


def current() -> Lang:
    """The language in force: set by `use`/`set_language`, else GROWTHSIM_LANG, else English
    (an unknown GROWTHSIM_LANG reads as English; the CLI refuses it with a located line)."""
    chosen = _current.get()
    if chosen is not None:
        return chosen
    try:
        return parse_lang(os.environ.get(ENV)) or "en"
    except ValueError:
        return "en"


def set_language(lang: Lang | None) -> None:
    """For the rest of this command (the CLI's root option)."""
    _current.set(lang)


@contextmanager
def use(lang: Lang | None) -> Iterator[None]:
    """Within the block, write in `lang` (None: keep the language in force)."""
    token = _current.set(lang or current())
    try:
        yield
    finally:
        _current.reset(token)


def metric_title(name: str) -> str:
    """A metric in a table or heading: in Chinese its Chinese name with the snake_case name
    beside it (what --outputs, constraints and summary.json use); once if it has none."""
    label = metric_label(name)
    return label if label == name else f"{label} {name}"


def html_lang() -> str:
    """A page's lang attribute: zh-CN lets the browser pick CJK fonts for a Chinese page."""
    return "zh-CN" if current() == "zh" else "en"


def t(en: str, zh: str) -> str:
    """The text in the language in force."""
    return zh if current() == "zh" else en


def metric_label(name: str) -> str:
    """A metric as a reader names it: `gmv` in English, its Chinese name (成交额) in Chinese."""
    from sim.metrics import METRICS  # here: the registry loads every mechanic; `t` needs none

    metric = METRICS.get(name)
    return metric.zh if current() == "zh" and metric is not None else name


def metric_unit(name: str, daily: bool = False) -> str:
    from sim.metrics import METRICS

    metric = METRICS[name]
    if current() == "zh":
        return metric.zh_daily_unit if daily else metric.zh_unit
    return metric.daily_unit if daily else metric.unit


def group_title(title: str) -> str:
    return GROUPS_ZH.get(title, title) if current() == "zh" else title
