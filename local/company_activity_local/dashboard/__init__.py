"""The Company Activity Dashboard: numbers read from the rpt views (data), one self-contained HTML
file (render)."""

from company_activity_local.dashboard.data import AT_RISK_ROW_CAP, WINDOW_DAYS, DashboardData, DashboardError, load
from company_activity_local.dashboard.render import render_html, write_dashboard

__all__ = [
    "AT_RISK_ROW_CAP",
    "WINDOW_DAYS",
    "DashboardData",
    "DashboardError",
    "load",
    "render_html",
    "write_dashboard",
]
