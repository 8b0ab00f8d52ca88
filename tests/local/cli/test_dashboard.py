"""`company-activity dashboard` on a small warehouse loaded through the procedure, and every bad input
it must turn into one clear error line (exit 1 or 2, no traceback)."""

from __future__ import annotations

import datetime as dt
import json
import re

from company_activity_local.cli import main
from company_activity_local.dashboard import AT_RISK_ROW_CAP, load
from company_activity_local.warehouse import open_warehouse
from tests.support.dashboard_fixtures import EVIL
from tests.support.warehouse_helpers import day


def _payload(html: str) -> dict:
    match = re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_writes_one_self_contained_file(loaded, tmp_path, capsys):
    output = tmp_path / "sub" / "dashboard.html"
    assert main(["dashboard", "--warehouse", str(loaded), "-o", str(output)]) == 0
    assert f"dashboard written: {output}" in capsys.readouterr().out
    html = output.read_text(encoding="utf-8")
    assert EVIL not in html  # a name cannot close the data element
    data = _payload(html)
    assert data["day"] == day(10).isoformat()  # default: the latest loaded day
    assert data["comparison_day"] == day(3).isoformat()
    kpis = {k["name"]: k for k in data["kpis"]}
    assert kpis["companies"] == {"name": "companies", "value": 3, "previous": 3}
    assert kpis["active_users"]["value"] == 7
    assert [r[0] for r in data["at_risk"]] == ["a"]  # b and c are active and contacted in the last 90 days
    assert data["at_risk"][0][1] == EVIL
    assert data["contacts"] == {"a": [day(3).isoformat()]}  # the drill-down's markers
    assert data["series"]["a"]["dates"][0] == day(1).isoformat() and len(data["series"]["a"]["dau"]) == 10
    assert data["trend"]["dates"][-1] == day(10).isoformat()
    assert data["freshness"]["fact_lag_days"] == 0
    assert len(data["load_runs"]) == 10


def test_date_picks_the_day_and_its_comparison(loaded, tmp_path):
    output = tmp_path / "d.html"
    assert main(["dashboard", "--warehouse", str(loaded), "-o", str(output), "--date", day(5).isoformat()]) == 0
    data = _payload(output.read_text(encoding="utf-8"))
    assert data["day"] == day(5).isoformat()
    assert {k["name"]: k["previous"] for k in data["kpis"]}["companies"] is None  # day(-2) was not loaded
    assert max(data["trend"]["dates"]) == day(5).isoformat()
    assert all(d <= day(5).isoformat() for s in data["series"].values() for d in s["dates"])


def test_row_level_data_is_capped(loaded):
    with open_warehouse(duckdb_path=loaded) as warehouse:
        data = load(warehouse)
    assert data.cap == AT_RISK_ROW_CAP and len(data.at_risk) <= data.cap
    assert set(data.series) == {r["company_id"] for r in data.at_risk}


def _fails(argv: list[str], capsys, code: int = 1) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert captured.err.startswith("company-activity: error: ") and captured.err.count("\n") == 1, captured.err
    return captured.err


def test_a_date_without_rows(loaded, tmp_path, capsys):
    error = _fails(["dashboard", "--warehouse", str(loaded), "-o", str(tmp_path / "x.html"), "--date", "2020-01-01"],
                   capsys)  # fmt: skip
    assert f"--date 2020-01-01 has no rows in rpt.daily_summary; loaded days are {day(1)} to {day(10)}" in error
    assert not (tmp_path / "x.html").exists()


def test_a_date_that_is_not_a_date(loaded, capsys):
    assert "--date '2026-13-01' is not a date" in _fails(["dashboard", "--warehouse", str(loaded), "--date",
                                                           "2026-13-01"], capsys, code=2)  # fmt: skip


def test_a_warehouse_without_data(deployed, tmp_path, capsys):
    error = _fails(["dashboard", "--warehouse", str(deployed), "-o", str(tmp_path / "x.html")], capsys)
    assert "the warehouse has no loaded day (rpt.daily_summary is empty)" in error


def test_a_warehouse_never_deployed(tmp_path, capsys):
    path = tmp_path / "bare.duckdb"
    open_warehouse(duckdb_path=path).close()
    error = _fails(["dashboard", "--warehouse", str(path), "-o", str(tmp_path / "x.html")], capsys)
    assert "the warehouse has no rpt views" in error and "company-activity sql deploy" in error


def test_a_missing_warehouse_file_is_not_created(tmp_path, capsys):
    path = tmp_path / "missing.duckdb"
    assert f"no warehouse at {path}" in _fails(["dashboard", "--warehouse", str(path)], capsys)
    assert not path.exists()


def test_an_unreachable_server(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WAREHOUSE_CONNECTION_STRING", raising=False)
    connection_string = (
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:127.0.0.1,9;Database=x;Encrypt=yes;Login Timeout=2"
    )
    secret_file = tmp_path / "sql.conn"
    secret_file.write_text(connection_string)
    error = _fails(["dashboard", "--connection-string-file", str(secret_file), "-o", str(tmp_path / "x.html")], capsys)
    # Without pyodbc (not installed here) the engine says how to get it; with it, the driver's reason.
    assert "cannot connect to SQL Server" in error or "needs pyodbc" in error
    assert "[sqlserver]" in error or "cannot connect" in error  # engine text printed verbatim, not as markup


def test_warehouse_path_and_the_output_folder_are_honoured(loaded, tmp_path, capsys, monkeypatch):
    """As every other command: WAREHOUSE_PATH names the warehouse, LOCAL_OUT_DIR the default output folder
    (issue 21: the dashboard used to ask for --warehouse although WAREHOUSE_PATH was set)."""
    monkeypatch.delenv("WAREHOUSE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("WAREHOUSE_PATH", str(loaded))
    monkeypatch.setenv("LOCAL_OUT_DIR", str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    assert main(["dashboard"]) == 0
    assert f"dashboard written: {tmp_path / 'mine' / 'dashboard.html'}" in capsys.readouterr().out


def test_no_warehouse_anywhere(tmp_path, capsys, monkeypatch):
    for name in ("WAREHOUSE_CONNECTION_STRING", "WAREHOUSE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCAL_OUT_DIR", str(tmp_path / "empty"))
    error = _fails(["dashboard"], capsys)
    assert f"no warehouse at {tmp_path / 'empty' / 'warehouse.duckdb'}" in error and "WAREHOUSE_PATH" in error


def test_window_start_is_inclusive():
    from company_activity_local.dashboard.data import window_start

    assert window_start(dt.date(2026, 3, 31), 90) == dt.date(2026, 1, 1)
    assert window_start(dt.date(2026, 3, 1), 1) == dt.date(2026, 3, 1)
