"""A plain self-contained HTML page (plotly.js inlined, opens offline): the frame of the
sweep, sensitivity, optimisation, A/B, calibration and forecast reports."""

from __future__ import annotations

import html

from plotly.offline import get_plotlyjs


def page(title: str, intro: str, body: str, lang: str = "en") -> str:
    """A self-contained HTML page with plotly.js inlined (opens offline); `lang` lets the
    browser pick CJK fonts for a Chinese page."""
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
pre {{ background: #f6f6f6; padding: 12px; overflow-x: auto; }}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>
{body}
</body></html>
"""
