"""An empty usage file must not silently zero a day: refused unless the bronze manifest or a flag says so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from company_activity.ingest.bronze import read_manifest
from company_activity.ingest.runner import ingest_day
from company_activity.ingest.usage_api import UsagePage
from company_activity_local.cli import main
from company_activity_local.warehouse import open_warehouse
from tests.support.staging_fixtures import record, write_jsonl

DAY = date(2026, 6, 10)
ISO = DAY.isoformat()


class NoRecords:
    base_url = "http://127.0.0.1:1"

    def iter_pages(self, day: date) -> Iterator[UsagePage]:
        yield UsagePage(number=0, records=[], next_cursor=None, body_bytes=0)


def usage_rows(warehouse: Path) -> list[tuple[str, int]]:
    wh = open_warehouse(duckdb_path=str(warehouse))
    try:
        rows = wh.query("SELECT company_id, daily_active_users FROM dbo.fact_daily_company_activity "
                        "WHERE activity_date = @d ORDER BY company_id", {"d": DAY})
        return [(r["company_id"], r["daily_active_users"]) for r in rows]
    finally:
        wh.close()


def load_day(tmp_path: Path, warehouse_path: Path) -> None:
    usage = write_jsonl(tmp_path / "full.jsonl.gz", [record(f"c{i}", ISO, users=4) for i in range(3)])
    assert main(["transform", "--date", ISO, "--usage", str(usage), "--warehouse", str(warehouse_path)]) == 0
    assert usage_rows(warehouse_path) == [("c0", 4), ("c1", 4), ("c2", 4)]


def test_an_empty_usage_file_is_refused_and_changes_nothing(tmp_path, warehouse_path, capsys) -> None:
    load_day(tmp_path, warehouse_path)
    empty = write_jsonl(tmp_path / "empty.jsonl.gz", [])
    code = main(["transform", "--date", ISO, "--usage", str(empty), "--warehouse", str(warehouse_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "hold 0 records" in err and "--allow-empty-usage" in err and "Nothing was changed" in err
    assert usage_rows(warehouse_path) == [("c0", 4), ("c1", 4), ("c2", 4)]


def test_allow_empty_usage_zeroes_the_day_on_request(tmp_path, warehouse_path, capsys) -> None:
    load_day(tmp_path, warehouse_path)
    empty = write_jsonl(tmp_path / "empty.jsonl.gz", [])
    code = main(["transform", "--date", ISO, "--usage", str(empty), "--allow-empty-usage",
                 "--warehouse", str(warehouse_path)])
    assert code == 0, capsys.readouterr().err
    assert all(users == 0 for _, users in usage_rows(warehouse_path))


def test_a_bronze_day_committed_empty_is_accepted_through_its_manifest(container, tmp_path, warehouse_path,
                                                                       capsys) -> None:
    load_day(tmp_path, warehouse_path)
    outcome = ingest_day(DAY, NoRecords(), container, reject_threshold=0.5)
    assert outcome.committed and outcome.record_count == 0
    manifest = read_manifest(container, DAY)
    assert manifest is not None
    bronze = tmp_path / "bronze"
    for name in (manifest.run_path + manifest.files[0].path.rsplit("/", 1)[1],
                 manifest.run_path.rsplit("/", 2)[0] + "/_manifest.json"):
        target = bronze / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(container.get_blob_client(name).download_blob().readall())
    run_folder = bronze / manifest.run_path
    code = main(["transform", "--date", ISO, "--usage", str(run_folder), "--warehouse", str(warehouse_path)])
    assert code == 0, capsys.readouterr().err
    assert all(users == 0 for _, users in usage_rows(warehouse_path))
