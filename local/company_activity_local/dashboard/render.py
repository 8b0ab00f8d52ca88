"""One self-contained HTML file: the template (template.html: CSS, JavaScript, hand-written SVG
charts) with the data inlined as JSON. Nothing is fetched at view time.

Why no chart library: the page draws three shapes (line charts, sparklines, date markers); a
~150-line SVG helper in the template covers them, keeps the file small for 1,000 sparklines, and
its output (plain <path> elements) is what the browser test inspects.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from company_activity_local.dashboard.data import REASONS, AtRiskRow, DashboardData

TEMPLATE = Path(__file__).with_name("template.html")
# The order of each at-risk row in the page's JSON (rows are arrays: 1,000 of them stay compact).
AT_RISK_COLUMNS = [
    "company_id", "company_name", "industry_tag", "country", "daily_active_users", "rolling_7d_active_users",
    "days_since_last_contact", "last_contact_date", "churn_risk_reason",
]  # fmt: skip
_DATA_MARKER = "/*__DASHBOARD_DATA__*/null"


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _columns(row: AtRiskRow) -> Mapping[str, Any]:
    return cast(Mapping[str, Any], row)


def _payload(data: DashboardData, generated_at: dt.datetime) -> dict[str, Any]:
    rows = [
        [round(float(r[c]), 2) if c == "rolling_7d_active_users" else r[c] for c in AT_RISK_COLUMNS]
        for r in map(_columns, data.at_risk)
    ]
    series = {
        company: {
            "dates": [d.isoformat() for d in s["dates"]],
            "dau": s["dau"],
            "rolling": [round(float(v), 2) for v in s["rolling"]],
        }
        for company, s in data.series.items()
    }
    return {
        "day": data.day,
        "window_start": data.window_start,
        "comparison_day": data.comparison_day,
        "loaded_range": list(data.loaded_range),
        "generated_at": generated_at.replace(microsecond=0),
        "cap": data.cap,
        "window_days": data.window_days,
        "reasons": list(REASONS),
        "kpis": [{"name": k.name, "value": k.value, "previous": k.previous} for k in data.kpis],
        "at_risk_total": data.at_risk_total,
        "at_risk_columns": AT_RISK_COLUMNS,
        "at_risk": rows,
        "series": series,
        "contacts": data.contacts,
        "trend": data.trend,
        "freshness": data.freshness,
        "load_runs": data.load_runs,
    }


def render_html(data: DashboardData, *, generated_at: dt.datetime | None = None) -> str:
    payload = json.dumps(
        _payload(data, generated_at or dt.datetime.now(dt.UTC)), default=_json_default, separators=(",", ":")
    )
    # Inside <script>, "</" would end the element: JSON allows escaping "<" as \u003c.
    payload = payload.replace("<", "\\u003c")
    template = TEMPLATE.read_text(encoding="utf-8")
    if template.count(_DATA_MARKER) != 1:
        raise RuntimeError(f"{TEMPLATE} must hold {_DATA_MARKER} exactly once")
    return template.replace(_DATA_MARKER, payload)


def write_dashboard(data: DashboardData, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(data), encoding="utf-8")
    return target
