"""One self-contained HTML file: the template (template.html: CSS, JavaScript, hand-written SVG
charts) with the data inlined as JSON. Nothing is fetched at view time.

Why no chart library: the page draws three shapes (line charts, sparklines, date markers); a
~150-line SVG helper in the template covers them, keeps the file small for 1,000 sparklines, and
its output (plain <path> elements) is what the browser test inspects.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
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
_CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy" content="[^"]*">')
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)  # executable: no type attribute


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
    return with_hashed_csp(template.replace(_DATA_MARKER, payload))


def with_hashed_csp(html: str) -> str:
    """The page with a Content-Security-Policy that runs only its own inline scripts, by their sha256 hash
    (CSP Level 2 hash sources): no 'unsafe-inline' script, so markup injected through the data could not run
    code even if escaping failed. base-uri and form-action are 'none': no injected <base> or <form> target.
    The data block (type="application/json") is not a script the browser runs, so it needs no hash. Styles keep
    'unsafe-inline' (the template sets a style attribute; CSS cannot run code)."""
    scripts = _INLINE_SCRIPT.findall(html)
    if not scripts or len(_CSP_META.findall(html)) != 1:
        raise RuntimeError(f"{TEMPLATE} must hold one Content-Security-Policy meta element and an inline script")
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts)
    policy = (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; img-src data:; "
              "base-uri 'none'; form-action 'none'")
    return _CSP_META.sub(lambda _: f'<meta http-equiv="Content-Security-Policy" content="{policy}">', html, count=1)


def write_dashboard(data: DashboardData, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(data), encoding="utf-8")
    return target
