"""`company-activity dashboard` on a small warehouse loaded through the procedure, and every bad input
it must turn into one clear error line (exit 1 or 2, no traceback)."""

from __future__ import annotations

import datetime as dt
import json
import re

from company_activity.dashboard.data import FLAG_BITS, MEASURES
from company_activity.dashboard.data import load as load_rpt
from company_activity.dashboard.runs import PipelineRunRecord
from company_activity_local.cli import main
from company_activity_local.pipeline.run_records import RunRecordFile, path_for_warehouse
from company_activity_local.warehouse import open_warehouse
from tests.support.dashboard_fixtures import EVIL
from tests.support.warehouse_helpers import day


def _payload(html: str) -> dict:
    match = re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


def _total(data: dict, day_index: int, measure: str) -> int:
    column = 3 + MEASURES.index(measure)
    return sum(row[column] for row in data["numbers"] if row[0] == day_index)


def test_writes_one_self_contained_file_with_the_whole_window(loaded, tmp_path, capsys):
    output = tmp_path / "sub" / "dashboard.html"
    assert main(["dashboard", "--warehouse", str(loaded), "-o", str(output)]) == 0
    assert f"dashboard written: {output}" in capsys.readouterr().out
    html = output.read_text(encoding="utf-8")
    assert EVIL not in html  # a name cannot close the data element
    data = _payload(html)
    assert data["day"] == day(10).isoformat()  # default: the latest loaded day
    assert data["dates"] == [day(n).isoformat() for n in range(1, 11)]  # every loaded day of the window
    last = len(data["dates"]) - 1
    assert (_total(data, last, "companies"), _total(data, last, "active_users")) == (3, 7)
    assert _total(data, last - 7, "companies") == 3  # the comparison day is in the file too
    companies = {c[0]: c for c in data["companies"]}
    assert companies["a"][1] == EVIL
    calls = data["calls"][last]
    assert [data["companies"][r[0]][0] for r in calls] == ["a"]  # b and c are active and recently contacted
    assert calls[0][2] & FLAG_BITS["low_activity"] and calls[0][1] == 2  # severity 2: low activity
    index_a = str(data["companies"].index(companies["a"]))
    assert data["contacts"] == {index_a: [day(3).isoformat()]}  # the drill-down's markers
    assert len(data["series"][index_a][0]) == 10 and data["series"][index_a][0][0] == 0
    assert data["freshness"]["fact_lag_days"] == 0
    assert len(data["load_runs"]) == 10
    assert data["runs"] == [] and data["health"]["status"] == "unknown"
    assert str(path_for_warehouse(loaded)) in data["runs_source"]


def test_every_run_of_the_run_record_file_is_shown_and_an_unresolved_failure_is_the_headline(loaded, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    warehouse.write_bytes(loaded.read_bytes())
    records = RunRecordFile.for_warehouse(warehouse)
    assert records is not None and records.path == tmp_path / "w.runs.jsonl"
    start = dt.datetime(2026, 3, 12, 2, tzinfo=dt.UTC)
    for run_id, status, run_day, message in (("ok", "Succeeded", day(10), ""),
                                             ("bad", "Failed", day(11), "WaitForManifest: timed out")):
        records.record(PipelineRunRecord(run_id, "PL_daily_company_activity", "InProgress", start, None,
                                         {"runDate": run_day.isoformat()}))
        records.record(PipelineRunRecord(run_id, "PL_daily_company_activity", status, start,
                                         start + dt.timedelta(seconds=5), {"runDate": run_day.isoformat()}, message))
        start += dt.timedelta(minutes=1)
    output = tmp_path / "d.html"
    assert main(["dashboard", "--warehouse", str(warehouse), "-o", str(output)]) == 0
    data = _payload(output.read_text(encoding="utf-8"))
    assert [(r["runId"], r["status"], r["dates"]) for r in data["runs"]] == [
        ("bad", "Failed", day(11).isoformat()), ("ok", "Succeeded", day(10).isoformat())]
    assert data["health"]["status"] == "failed" and data["health"]["unresolved"] == ["bad"]
    assert f"PL_daily_company_activity for {day(11).isoformat()}" in data["health"]["headline"]


def test_date_picks_the_last_day_of_the_window(loaded, tmp_path):
    output = tmp_path / "d.html"
    assert main(["dashboard", "--warehouse", str(loaded), "-o", str(output), "--date", day(5).isoformat()]) == 0
    data = _payload(output.read_text(encoding="utf-8"))
    assert data["day"] == day(5).isoformat() and data["dates"][-1] == day(5).isoformat()
    assert all(len(values[0]) == 5 for values in data["series"].values())


def test_each_days_list_is_capped_and_the_counts_are_not(loaded):
    with open_warehouse(duckdb_path=loaded) as warehouse:
        data = load_rpt(warehouse, call_cap=1, series_cap=1)
        wide = load_rpt(warehouse)
    assert all(len(rows) <= 1 for rows in data.calls) and data.call_cap == 1
    assert len(data.series) <= 1
    assert [n.values for n in data.numbers] == [n.values for n in wide.numbers]


def _fails(argv: list[str], capsys, code: int = 1) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert captured.err.startswith("company-activity: error: ") and captured.err.count("\n") == 1, captured.err
    return captured.err


def test_a_date_without_rows(loaded, tmp_path, capsys):
    error = _fails(["dashboard", "--warehouse", str(loaded), "-o", str(tmp_path / "x.html"), "--date", "2020-01-01"],
                   capsys)  # fmt: skip
    assert f"date 2020-01-01 is not a loaded day; loaded days are {day(1)} to {day(10)}" in error
    assert not (tmp_path / "x.html").exists()


def test_a_date_that_is_not_a_date(loaded, capsys):
    assert "--date '2026-13-01' is not a date" in _fails(["dashboard", "--warehouse", str(loaded), "--date",
                                                           "2026-13-01"], capsys, code=2)  # fmt: skip


def test_a_warehouse_without_data(deployed, tmp_path, capsys):
    error = _fails(["dashboard", "--warehouse", str(deployed), "-o", str(tmp_path / "x.html")], capsys)
    assert "the warehouse has no loaded day (rpt.loaded_days is empty)" in error


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
    from company_activity.dashboard.data import window_start

    assert window_start(dt.date(2026, 3, 31), 90) == dt.date(2026, 1, 1)
    assert window_start(dt.date(2026, 3, 1), 1) == dt.date(2026, 3, 1)
