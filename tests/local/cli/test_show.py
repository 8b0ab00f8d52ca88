"""`company-activity show fact | load-log`: what the warehouse holds, as JSON for scripts and tables for people."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from company_activity_local.cli import main
from company_activity_local.warehouse.crm import CRM_HEADER
from tests.support.staging_fixtures import record, write_jsonl

DAY = date(2026, 6, 10)
ISO = DAY.isoformat()


# Where the first test that asked built its two-day warehouse (kept until the session ends, as tmp_path is).
_TWO_DAYS: list[Path] = []


def load_two_days(tmp_path: Path) -> Path:
    """A warehouse of the test's own with two days loaded by `transform`. The first test builds it (inside the
    test, so under its isolated settings); later ones copy that file instead of running both days again."""
    warehouse = tmp_path / "wh.duckdb"
    if not _TWO_DAYS:
        _TWO_DAYS.append(_transform_two_days(tmp_path / "first-built"))
    shutil.copy(_TWO_DAYS[0], warehouse)
    return warehouse


def _transform_two_days(folder: Path) -> Path:
    folder.mkdir()
    warehouse = folder / "wh.duckdb"
    crm = folder / "companies.csv"
    crm.write_text(",".join(CRM_HEADER) + "\nc1,Acme,saas,US,2026-06-01\nc2,Globex,,DE,\n", encoding="utf-8")
    for day in (DAY - timedelta(days=1), DAY):
        usage = write_jsonl(folder / f"{day}.jsonl.gz", [record("c1", day.isoformat()),
                                                           record("c2", day.isoformat(), users=0)])
        args = ["transform", "--date", day.isoformat(), "--usage", str(usage), "--warehouse", str(warehouse),
                "--run-id", f"run-{day}"]
        assert main([*args, "--crm", str(crm)] if day == DAY else args) == 0
    return warehouse


def test_show_fact_json_is_exactly_the_fact_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = load_two_days(tmp_path)
    capsys.readouterr()
    assert main(["show", "fact", "--warehouse", str(warehouse), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as db:
        cursor = db.execute("SELECT * FROM dbo.fact_daily_company_activity ORDER BY activity_date DESC, company_id")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert len(shown) == len(rows) == 4
    for item, expected in zip(shown, rows, strict=True):  # same rows, same order (newest date first)
        assert set(item) == set(names) - {"loaded_at"}
        for name, value in item.items():
            want = expected[name]
            if isinstance(want, float):
                assert value == pytest.approx(want), name
            else:
                assert value == (want.isoformat() if hasattr(want, "isoformat") else want), name

    assert main(["show", "fact", "--warehouse", str(warehouse), "--json", "--date", ISO, "--company", "c2"]) == 0
    [only] = json.loads(capsys.readouterr().out)
    assert (only["activity_date"], only["company_id"], only["company_name"]) == (ISO, "c2", "Globex")

    assert main(["show", "fact", "--warehouse", str(warehouse), "--date", ISO, "--churn-risk"]) == 0
    table = capsys.readouterr().out
    assert "c2" in table and "c1" not in table  # c2 had no active users: churn risk


def test_show_load_log_newest_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = load_two_days(tmp_path)
    capsys.readouterr()
    assert main(["show", "load-log", "--warehouse", str(warehouse), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["status"]) for r in shown] == [(f"run-{DAY}", "succeeded"),
                                                           (f"run-{DAY - timedelta(days=1)}", "succeeded")]
    assert main(["show", "load-log", "--warehouse", str(warehouse), "--date", ISO]) == 0
    assert f"run-{DAY}" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "code", "message"), [
    (["show", "fact", "--date", "2026-02-30"], 2, "--date"),
    (["show", "fact", "--limit", "0"], 2, "--limit must be at least 1"),
    (["show", "load-log"], 1, "no warehouse at"),
])
def test_show_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                               args: list[str], code: int, message: str) -> None:
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "absent.duckdb"))
    monkeypatch.delenv("WAREHOUSE_CONNECTION_STRING", raising=False)
    assert main(args) == code
    assert message in capsys.readouterr().err
    assert not (tmp_path / "absent.duckdb").exists()  # looking never creates a warehouse


def test_no_matching_rows_says_so_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 21: `show fact --date 2027-01-01` used to print an empty table with exit 0."""
    warehouse = load_two_days(tmp_path)
    capsys.readouterr()
    assert main(["show", "fact", "--warehouse", str(warehouse), "--date", "2026-01-01"]) == 1
    captured = capsys.readouterr()
    first, last = (DAY - timedelta(days=1)).isoformat(), ISO
    assert captured.err.strip() == ("company-activity: error: no rows in dbo.fact_daily_company_activity for --date "
                                    f"2026-01-01 (it holds {first}..{last})")
    assert captured.out == ""
    assert main(["show", "fact", "--warehouse", str(warehouse), "--company", "nobody", "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "for --company nobody" in captured.err
    assert main(["show", "load-log", "--warehouse", str(warehouse), "--date", "2026-01-01"]) == 1
    assert "no rows in etl.load_log for --date 2026-01-01" in capsys.readouterr().err


def test_tables_stay_legible_at_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 21: at 80 columns the load-log headers shrank to "lo", "in", "up", "d" and the message to nothing."""
    warehouse = load_two_days(tmp_path)
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["show", "load-log", "--warehouse", str(warehouse)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if "run date" in line)
    for name in ("load", "run date", "status", "ins", "upd", "del", "message"):
        assert name in header, header
    assert any("merged" in line or "succeeded" in line for line in lines)
    assert main(["show", "fact", "--warehouse", str(warehouse)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    header = " ".join(lines[1:3])  # "days since" / "contact" is a two-line header
    for name in ("date", "company", "name", "users", "events", "7d avg", "days since", "contact", "churn risk"):
        assert name in header, header
