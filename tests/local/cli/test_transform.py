"""`company-activity transform` on real files: bronze written by the ingestion runner, CRM CSVs, bad input."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from company_activity.ingest.bronze import MANIFEST_NAME, read_manifest
from company_activity.ingest.runner import BronzeOptions, ingest_day
from company_activity.ingest.usage_api import UsagePage
from company_activity_local.cli import main
from company_activity_local.services.crm_generator import CrmGenerator, write_crm_csv
from company_activity_local.services.usage_data import Dataset
from company_activity_local.warehouse import open_warehouse
from company_activity_local.warehouse.crm import CRM_HEADER, crm_blob_path
from tests.support.staging_fixtures import record, write_jsonl

DAY = date(2026, 6, 10)
ISO = DAY.isoformat()


@dataclass
class DatasetPages:
    """The ingestion's PageSource over the simulator's ground truth, without HTTP."""

    dataset: Dataset
    page_size: int = 40
    base_url: str = "http://127.0.0.1:1"

    def iter_pages(self, day: date) -> Iterator[UsagePage]:
        records = list(self.dataset.records(day))
        for number, start in enumerate(range(0, max(len(records), 1), self.page_size)):
            last = start + self.page_size >= len(records)
            yield UsagePage(
                number=number,
                records=records[start : start + self.page_size],
                next_cursor=None if last else f"p{number + 1}",
                body_bytes=0,
            )


def bronze_day(container, day: date, dataset: Dataset, folder: Path) -> Path:
    """Ingest `day` with the real runner (small parts, so there are several), download the committed run folder."""
    outcome = ingest_day(day, DatasetPages(dataset), container, reject_threshold=0.5,
                         options=BronzeOptions(part_max_bytes=2_000))
    assert outcome.committed, outcome.reason
    manifest = read_manifest(container, day)
    assert manifest is not None
    assert len(manifest.files) > 1 and manifest.rejected_files
    for entry in (*manifest.files, *manifest.rejected_files):
        target = folder / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(container.get_blob_client(entry.path).download_blob().readall())
    return folder / manifest.run_path


def crm_file(folder: Path, day: date, rows) -> Path:
    path = folder / "crm" / crm_blob_path(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as out:
        write_crm_csv(rows, out)
    return path


def cli(*args: object) -> int:
    return main(["transform", *(str(a) for a in args)])


def fact(warehouse: Path) -> list[dict]:
    wh = open_warehouse(duckdb_path=str(warehouse))
    try:
        return wh.query("SELECT company_id, activity_date, daily_active_users, daily_events_count, company_name "
                        "FROM dbo.fact_daily_company_activity ORDER BY activity_date, company_id")
    finally:
        wh.close()


def test_transforms_bronze_written_by_the_ingestion(container, tmp_path, capsys) -> None:
    dataset = Dataset(companies=120, seed=3, invalid_share=0.05)
    generator = CrmGenerator(120, seed=3)
    warehouse = tmp_path / "wh.duckdb"
    for day in (DAY, DAY + timedelta(days=1)):
        run_folder = bronze_day(container, day, dataset, tmp_path / "bronze")
        crm = crm_file(tmp_path, day, generator.snapshot(day))
        assert cli("--date", day, "--usage", run_folder, "--crm", crm, "--warehouse", warehouse,
                   "--run-id", f"test-{day}") == 0
        out = capsys.readouterr().out
        assert "status" in out and "succeeded" in out
        assert f"test-{day}" in out

    rows = fact(warehouse)
    for day in (DAY, DAY + timedelta(days=1)):
        usage = {r["company_id"]: r for r in dataset.valid_records(day)}
        of_day = {r["company_id"]: r for r in rows if r["activity_date"] == day}
        crm_ids = {r.company_id for r in generator.snapshot(day)}
        assert set(of_day) == set(usage) | crm_ids  # rule 2's grain
        for company, row in of_day.items():
            expected = usage.get(company, {"active_users": 0, "events": 0})
            assert (row["daily_active_users"], row["daily_events_count"]) == (expected["active_users"],
                                                                              expected["events"])
    names = {r.company_id: r.company_name for r in generator.snapshot(DAY + timedelta(days=1))}
    assert all(r["company_name"] == names.get(r["company_id"]) for r in rows)  # rule 7


def test_rerun_of_the_same_files_changes_nothing(tmp_path, capsys) -> None:
    usage = write_jsonl(tmp_path / "day.jsonl.gz", [record("c1", ISO, 2, 5), record("c2", ISO, 0, 0)])
    warehouse = tmp_path / "wh.duckdb"
    assert cli("--date", ISO, "--usage", usage, "--warehouse", warehouse) == 0
    assert re.search(r"^rows_inserted +2$", capsys.readouterr().out, re.MULTILINE)
    assert cli("--date", ISO, "--usage", usage, "--warehouse", warehouse, "--run-id", "again") == 0
    out = capsys.readouterr().out
    for counter in ("rows_inserted", "rows_updated", "rows_deleted"):
        assert re.search(rf"^{counter} +0$", out, re.MULTILINE), counter


def test_crm_rejects_fail_the_load_unless_allowed(tmp_path, capsys) -> None:
    usage = write_jsonl(tmp_path / "day.jsonl.gz", [record("c1", ISO)])
    crm = tmp_path / "crm" / crm_blob_path(DAY)
    crm.parent.mkdir(parents=True)
    crm.write_text(",".join(CRM_HEADER) + "\nc1,Acme,,US,2026-06-01\nc2,Bad date,,,2026-06-31\n", encoding="utf-8")
    warehouse = tmp_path / "wh.duckdb"

    assert cli("--date", ISO, "--usage", usage, "--crm", crm, "--warehouse", warehouse) == 2
    err = capsys.readouterr().err
    assert "use --allow-rejects" in err
    assert "line 3, last_contact_date: is not a calendar date, got '2026-06-31'" in err
    assert not warehouse.exists() or fact(warehouse) == []

    assert cli("--date", ISO, "--usage", usage, "--crm", crm, "--warehouse", warehouse, "--allow-rejects") == 0
    captured = capsys.readouterr()
    assert "1 rows accepted, 1 rejected" in captured.err
    assert [(r["company_id"], r["company_name"]) for r in fact(warehouse)] == [("c1", "Acme")]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("bad_record", "day.jsonl.gz:2: field 'active_users' must be an integer >= 0, got -4"),
        ("wrong_header", "the header needs each of company_id,company_name,industry_tag,country,last_contact_date"),
        ("crm_of_other_date", "is the snapshot of 2026-06-09, not of the run date 2026-06-10"),
        ("empty_folder", "no part-*.jsonl.gz files in this folder"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message_and_changes_nothing(tmp_path, capsys, monkeypatch, setup,
                                                                    message) -> None:
    monkeypatch.delenv("WAREHOUSE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("WAREHOUSE_PATH", raising=False)
    warehouse = tmp_path / "wh.duckdb"
    good = write_jsonl(tmp_path / "good.jsonl.gz", [record("c0", ISO)])
    assert cli("--date", ISO, "--usage", good, "--warehouse", warehouse) == 0
    before = fact(warehouse)
    capsys.readouterr()
    args: list[object] = ["--date", ISO, "--warehouse", warehouse]
    if setup == "bad_record":
        args += ["--usage", write_jsonl(tmp_path / "day.jsonl.gz", [record("c1", ISO), record("c2", ISO, users=-4)])]
    elif setup in ("wrong_header", "crm_of_other_date"):
        other = DAY - timedelta(days=1) if setup == "crm_of_other_date" else DAY
        path = tmp_path / "crm" / crm_blob_path(other)
        path.parent.mkdir(parents=True)
        path.write_text("id,name\nc1,x\n" if setup == "wrong_header" else ",".join(CRM_HEADER) + "\n")
        args += ["--usage", good, "--crm", path]
    else:
        (tmp_path / "empty").mkdir()
        args += ["--usage", tmp_path / "empty"]
    assert cli(*args) == 2
    assert message in capsys.readouterr().err
    assert fact(warehouse) == before



def test_usage_files_must_match_the_bronze_manifest_beside_them(container, tmp_path, capsys, monkeypatch) -> None:
    """Issue 21: a part file cut cleanly at a line boundary (a valid gzip of fewer records) used to load with exit
    0 although the manifest beside its run folder says how many records and which sha256 the run committed."""
    monkeypatch.delenv("WAREHOUSE_CONNECTION_STRING", raising=False)
    dataset = Dataset(companies=120, seed=3, invalid_share=0.05)
    run_folder = bronze_day(container, DAY, dataset, tmp_path / "bronze")
    manifest = read_manifest(container, DAY)
    assert manifest is not None
    (run_folder.parent / MANIFEST_NAME).write_bytes(manifest.to_json())  # as `bronze download` saves the day
    warehouse = tmp_path / "wh.duckdb"
    parts = sorted(run_folder.glob("part-*.jsonl.gz"))
    first = parts[0]
    original = first.read_bytes()
    lines = gzip.decompress(original).splitlines(keepends=True)
    first.write_bytes(gzip.compress(b"".join(lines[:len(lines) // 2])))  # clean cut: valid gzip, valid records

    assert cli("--date", ISO, "--usage", run_folder, "--warehouse", warehouse) == 2
    err = capsys.readouterr().err
    assert f"{first} does not match its manifest" in err and "sha256" in err and "Nothing was changed" in err
    assert "--ignore-manifest" in err
    assert not warehouse.exists()  # refused input leaves no new warehouse behind

    first.write_bytes(original)
    assert cli("--date", ISO, "--usage", parts[0], "--warehouse", warehouse) == 2  # one part of several
    err = capsys.readouterr().err
    assert f"the manifest commits {len(parts)} part file(s); not given: {parts[1].name}" in err

    stray = run_folder / "part-09999.jsonl.gz"
    stray.write_bytes(gzip.compress(b""))
    assert cli("--date", ISO, "--usage", run_folder, "--warehouse", warehouse) == 2
    assert "part-09999.jsonl.gz is not in the committed run's manifest" in capsys.readouterr().err
    stray.unlink()

    assert cli("--date", DAY + timedelta(days=1), "--usage", run_folder, "--warehouse", warehouse) == 2
    assert f"is for {DAY}, not the run date {DAY + timedelta(days=1)}" in capsys.readouterr().err

    assert cli("--date", ISO, "--usage", run_folder, "--warehouse", warehouse) == 0
    assert f"staged {manifest.record_count} usage records from {len(parts)} file(s)" in capsys.readouterr().out

    first.write_bytes(gzip.compress(b"".join(lines[:len(lines) // 2])))
    assert cli("--date", ISO, "--usage", run_folder, "--warehouse", warehouse, "--ignore-manifest",
               "--run-id", "repaired") == 0  # the operator's explicit choice


def test_a_crm_file_without_rows_means_no_snapshot_for_the_date(tmp_path, capsys) -> None:
    """Rule 2: without a snapshot the CRM set is the latest snapshot's companies (c2 keeps its row)."""
    warehouse = tmp_path / "wh.duckdb"
    next_day = DAY + timedelta(days=1)
    full = crm_file(tmp_path, DAY, [])
    full.write_text(",".join(CRM_HEADER) + "\nc1,One,,,\nc2,Two,,,\n", encoding="utf-8")
    empty = crm_file(tmp_path, next_day, [])
    usage = [write_jsonl(tmp_path / f"{d}.jsonl.gz", [record("c1", d.isoformat())]) for d in (DAY, next_day)]
    assert cli("--date", DAY, "--usage", usage[0], "--crm", full, "--warehouse", warehouse) == 0
    assert "and 2 CRM rows" in capsys.readouterr().out
    assert cli("--date", next_day, "--usage", usage[1], "--crm", empty, "--warehouse", warehouse) == 0
    assert "no CRM snapshot (the last known CRM state is kept)" in capsys.readouterr().out
    rows = [(r["activity_date"], r["company_id"], r["daily_active_users"], r["company_name"]) for r in fact(warehouse)]
    assert rows == [(DAY, "c1", 3, "One"), (DAY, "c2", 0, "Two"),
                    (next_day, "c1", 3, "One"), (next_day, "c2", 0, "Two")]


def test_without_a_warehouse_setting_every_command_uses_out_warehouse_duckdb(tmp_path, capsys, monkeypatch) -> None:
    """One rule for transform and sql deploy (and pipeline run): flag > env > out/warehouse.duckdb."""
    from company_activity_local.cli import main

    monkeypatch.delenv("WAREHOUSE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("WAREHOUSE_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["sql", "deploy"]) == 0
    assert "out/warehouse.duckdb: " in capsys.readouterr().out
    usage = write_jsonl(tmp_path / "day.jsonl.gz", [record("c1", ISO)])
    assert cli("--date", ISO, "--usage", usage) == 0
    assert [r["company_id"] for r in fact(tmp_path / "out" / "warehouse.duckdb")] == ["c1"]
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "elsewhere.duckdb"))
    assert main(["sql", "deploy"]) == 0
    assert f"{tmp_path / 'elsewhere.duckdb'}: " in capsys.readouterr().out


def test_the_warehouse_can_come_from_the_environment(tmp_path, capsys, monkeypatch) -> None:
    usage = write_jsonl(tmp_path / "day.jsonl.gz", [record("c1", ISO)])
    warehouse = tmp_path / "from-env.duckdb"
    monkeypatch.delenv("WAREHOUSE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))
    assert cli("--date", ISO, "--usage", usage) == 0
    assert [r["company_id"] for r in fact(warehouse)] == ["c1"]
    monkeypatch.setenv("WAREHOUSE_CONNECTION_STRING", "Driver=x;Server=y")
    assert cli("--date", ISO, "--usage", usage) == 2
    err = capsys.readouterr().err
    assert "both WAREHOUSE_CONNECTION_STRING and WAREHOUSE_PATH are set" in err
    assert "Server=y" not in err
