"""`company-activity show fact | load-log`: what the warehouse holds, as JSON for scripts and tables for people."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from company_activity_local.cli import main
from company_activity_local.warehouse.crm import CRM_HEADER
from tests.local.cli.test_transform import DAY, ISO
from tests.support.staging_fixtures import record, write_jsonl


def load_two_days(tmp_path: Path) -> Path:
    warehouse = tmp_path / "wh.duckdb"
    crm = tmp_path / "companies.csv"
    crm.write_text(",".join(CRM_HEADER) + "\nc1,Acme,saas,US,2026-06-01\nc2,Globex,,DE,\n", encoding="utf-8")
    for day in (DAY - timedelta(days=1), DAY):
        usage = write_jsonl(tmp_path / f"{day}.jsonl.gz", [record("c1", day.isoformat()),
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
