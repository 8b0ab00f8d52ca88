"""One self-contained HTML page: the template (template.html: CSS, JavaScript, hand-written SVG charts) with
the data inlined as JSON. Nothing is fetched when the page is viewed, and the page draws every day of the
window from that JSON in the browser (date control, filters, sorting).

Why no chart library: the page draws line charts, sparklines and markers; a small SVG helper in the
template covers them, keeps the file small, and its output (plain SVG elements with data attributes) is
what the browser tests inspect.

CONTENT_SECURITY_POLICY is the page's only policy (scripts by their sha256 hash, issue 22): the template's
<meta> tag and the Function app's Content-Security-Policy response header both come from it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from company_activity.dashboard.data import COMPARISON_DAYS, FLAG_BITS, MEASURES, DashboardData
from company_activity.dashboard.runs import health

TEMPLATE = Path(__file__).with_name("template.html")
_DATA_MARKER = "/*__DASHBOARD_DATA__*/null"
_CSP_MARKER = "__CONTENT_SECURITY_POLICY__"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)  # executable: no type attribute


def hashed_policy(template: str) -> str:
    """The Content-Security-Policy of a page made from `template`: its own inline scripts run, by their sha256
    hash (CSP Level 2 hash sources), and nothing else: no 'unsafe-inline' script, so markup injected through
    the data could not run code even if escaping failed; nothing is fetched; base-uri and form-action 'none'.
    The data block (type="application/json") is not a script the browser runs and needs no hash; the data
    never changes the script, so one policy fits every page. Styles keep 'unsafe-inline' (CSS cannot run code)."""
    scripts = _INLINE_SCRIPT.findall(template)
    if not scripts:
        raise RuntimeError(f"{TEMPLATE} must hold an inline script")
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts)
    return (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; img-src data:; "
            "base-uri 'none'; form-action 'none'")


# The page's only policy: the template's <meta> tag and GET /api/dashboard's response header.
CONTENT_SECURITY_POLICY = hashed_policy(TEMPLATE.read_text(encoding="utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds") if value.tzinfo is None else \
            value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def payload(data: DashboardData, generated_at: dt.datetime) -> dict[str, Any]:
    """The page's JSON. Rows are arrays (their column names alongside) so that large windows stay compact."""
    state = health(data.runs, data.runs_source or "no run history was given")
    return {
        "generated_at": generated_at,
        "day": data.day,
        "dates": data.dates,
        "loaded_range": list(data.loaded_range),
        "window_days": data.window_days,
        "comparison_days": COMPARISON_DAYS,
        "call_cap": data.call_cap,
        "series_cap": data.series_cap,
        "industries": data.industries,
        "countries": data.countries,
        "measures": list(MEASURES),
        "numbers": [[n.day, n.industry, n.country, *n.values] for n in data.numbers],
        "flag_bits": FLAG_BITS,
        "severity_labels": {str(k): v for k, v in sorted(data.severity_labels.items())},
        "companies": [[c.company_id, c.name, c.industry, c.country] for c in data.companies],
        "call_columns": ["company", "severity", "flags", "daily_active_users", "rolling", "rolling_week_before",
                         "days_since_contact"],
        "calls": [[[r.company, r.severity, r.flags, r.daily_active_users, _round(r.rolling),
                    _round(r.rolling_week_before), r.days_since_contact] for r in day] for day in data.calls],
        "series": {str(c): [dau, [_round(v) for v in rolling]] for c, (dau, rolling) in data.series.items()},
        "contacts": {str(c): dates for c, dates in data.contacts.items()},
        "no_crm": [[[r.company_id, r.daily_active_users, _round(r.rolling), r.first_seen] for r in day]
                   for day in data.no_crm],
        "freshness": data.freshness,
        "load_runs": data.load_runs,
        "runs": [r.to_json() | {"dates": r.dates, "duration_s": _round(r.duration_s, 1)} for r in data.runs],
        "runs_source": data.runs_source,
        "health": {"status": state.status, "headline": state.headline,
                   "unresolved": [r.run_id for r in state.unresolved]},
    }


def render_html(data: DashboardData, *, generated_at: dt.datetime | None = None) -> str:
    text = json.dumps(payload(data, generated_at or dt.datetime.now(dt.UTC)), default=_json_default,
                      separators=(",", ":"), ensure_ascii=False)
    # Inside <script>, "</" would end the element: JSON allows escaping "<" as \u003c.
    text = text.replace("<", "\\u003c")
    template = TEMPLATE.read_text(encoding="utf-8")
    for marker in (_DATA_MARKER, _CSP_MARKER):
        if template.count(marker) != 1:
            raise RuntimeError(f"{TEMPLATE} must hold {marker} exactly once")
    return template.replace(_CSP_MARKER, CONTENT_SECURITY_POLICY).replace(_DATA_MARKER, text)
