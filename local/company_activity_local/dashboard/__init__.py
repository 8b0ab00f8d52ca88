"""The Company Activity Dashboard on a developer's or operator's machine: the app's dashboard
(company_activity.dashboard: the rpt-view queries, the page) read from a local Warehouse (DuckDB or SQL
Server), written to a file, with the local executor's run records as the run history."""

from company_activity_local.dashboard.build import load, write_dashboard

__all__ = ["load", "write_dashboard"]
