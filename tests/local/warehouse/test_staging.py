"""Staging from bronze-format usage files and CRM rows, on a real DuckDB warehouse."""

from __future__ import annotations

import gzip
from datetime import date

import pytest

from company_activity.ingest.usage_api import MAX_COMPANY_ID_BYTES
from company_activity_local.warehouse import staging
from company_activity_local.warehouse.crm import MAX_BYTES, CrmRow
from company_activity_local.warehouse.staging import (
    StagingError,
    bronze_run_id_of,
    load_crm_snapshot,
    load_usage_file,
    load_usage_files,
)
from tests.support.staging_fixtures import record, write_jsonl

DAY = date(2026, 5, 4)
ISO = DAY.isoformat()
RUN_ID = "20260505T013000Z-1a2b3c4d"


def staged(wh, day: date = DAY) -> list[tuple]:
    rows = wh.query("SELECT company_id, active_users, events, bronze_run_id FROM stg.product_usage_daily "
                    "WHERE usage_date = @day ORDER BY company_id", {"day": day})
    return [(r["company_id"], r["active_users"], r["events"], r["bronze_run_id"]) for r in rows]


@pytest.mark.parametrize("gz", [True, False], ids=["jsonl.gz", "jsonl"])
def test_loads_records_ignoring_extra_fields(wh, tmp_path, gz) -> None:
    path = write_jsonl(tmp_path / ("day.jsonl.gz" if gz else "day.jsonl"),
                       [record("c2", ISO, 5, 50, plan="pro"), record("c1", ISO, 0, 0, region={"x": 1})], gz=gz)
    result = load_usage_file(wh, path, DAY)
    assert result.records == 2
    assert staged(wh) == [("c1", 0, 0, None), ("c2", 5, 50, None)]


def test_reloading_a_date_replaces_it_and_leaves_other_dates(wh, tmp_path) -> None:
    other = date(2026, 5, 3)
    load_usage_file(wh, write_jsonl(tmp_path / "other.jsonl.gz", [record("c9", other.isoformat())]), other)
    load_usage_file(wh, write_jsonl(tmp_path / "a.jsonl.gz", [record("c1", ISO), record("c2", ISO)]), DAY)
    load_usage_file(wh, write_jsonl(tmp_path / "b.jsonl.gz", [record("c3", ISO, 7, 70)]), DAY)
    assert staged(wh) == [("c3", 7, 70, None)]
    assert [r[0] for r in staged(wh, other)] == ["c9"]


def test_bronze_run_id_comes_from_the_run_folder(wh, tmp_path) -> None:
    folder = tmp_path / f"product_usage/date={ISO}/{RUN_ID}"
    parts = [write_jsonl(folder / "part-00000.jsonl.gz", [record("c1", ISO)]),
             write_jsonl(folder / "part-00001.jsonl.gz", [record("c2", ISO)])]
    assert bronze_run_id_of(parts[0]) == RUN_ID
    assert bronze_run_id_of(tmp_path / "x.jsonl.gz") is None
    result = load_usage_files(wh, parts, DAY)
    assert result.bronze_run_id == RUN_ID
    assert staged(wh) == [("c1", 3, 10, RUN_ID), ("c2", 3, 10, RUN_ID)]


def test_inserts_in_batches(wh, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(staging, "BATCH_ROWS", 7)
    records = [record(f"c{i:03d}", ISO, i, i) for i in range(50)]
    assert load_usage_file(wh, write_jsonl(tmp_path / "d.jsonl.gz", records), DAY).records == 50
    assert len(staged(wh)) == 50


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (record("c2", "2026-05-03"), "field 'date' must be '2026-05-04', got '2026-05-03'"),
        (record("c2", ISO, users=-1), "field 'active_users' must be an integer >= 0, got -1"),
        (record("c2", ISO, events=1.5), "field 'events' must be an integer >= 0, got 1.5"),
        (record("c2", ISO, users=True), "field 'active_users' must be an integer >= 0, got True"),
        ({"date": ISO, "active_users": 1, "events": 1}, "field 'company_id' is missing"),
        (record("c" * 65, ISO), "field 'company_id' must be at most 64 bytes in UTF-8"),
        (record("c2", ISO, events=2**31), "field 'events' is 2147483648, larger than the INT column allows"),
        ('{"company_id": "c2", "date": ', "not a JSON record (Expecting value at column 30)"),
        ("[1, 2]", "record must be a JSON object"),
        (record("c1", ISO), "duplicate company_id 'c1' (first at day.jsonl.gz:1)"),
    ],
)
def test_a_bad_record_is_reported_by_file_line_and_nothing_changes(wh, tmp_path, line, message) -> None:
    load_usage_file(wh, write_jsonl(tmp_path / "good.jsonl.gz", [record("c0", ISO)]), DAY)
    path = write_jsonl(tmp_path / "day.jsonl.gz", [record("c1", ISO), line, record("c3", ISO)])
    with pytest.raises(StagingError) as caught:
        load_usage_file(wh, path, DAY)
    assert f"{path}:2: " in str(caught.value)
    assert message in str(caught.value)
    assert "nothing staged" in str(caught.value)
    assert staged(wh) == [("c0", 3, 10, None)]  # the earlier staging of the date is intact


def test_a_duplicate_across_part_files_names_both(wh, tmp_path) -> None:
    first = write_jsonl(tmp_path / "part-00000.jsonl.gz", [record("c1", ISO), record("c2", ISO)])
    second = write_jsonl(tmp_path / "part-00001.jsonl.gz", [record("c3", ISO), record("c2", ISO)])
    with pytest.raises(StagingError, match=r"part-00001\.jsonl\.gz:2: duplicate company_id 'c2' "
                                           r"\(first at part-00000\.jsonl\.gz:2\)"):
        load_usage_files(wh, [first, second], DAY)


def test_truncated_gzip_and_path_of_another_date_are_errors(wh, tmp_path) -> None:
    good = write_jsonl(tmp_path / "a.jsonl.gz", [record(f"c{i}", ISO) for i in range(2000)])
    truncated = tmp_path / "t.jsonl.gz"
    truncated.write_bytes(good.read_bytes()[:-40])
    with pytest.raises(StagingError, match=r"t\.jsonl\.gz: cannot be read after line"):
        load_usage_file(wh, truncated, DAY)
    elsewhere = write_jsonl(tmp_path / "product_usage/date=2026-05-01/part-00000.jsonl.gz", [record("c1", ISO)])
    with pytest.raises(StagingError, match="the path is for date 2026-05-01, not the run date 2026-05-04"):
        load_usage_file(wh, elsewhere, DAY)
    with pytest.raises(StagingError, match="no such usage file"):
        load_usage_file(wh, tmp_path / "missing.jsonl.gz", DAY)
    assert staged(wh) == []


def test_an_empty_gzip_part_stages_an_empty_day(wh, tmp_path) -> None:
    path = tmp_path / "part-00000.jsonl.gz"
    with gzip.open(path, "wb"):
        pass
    load_usage_file(wh, write_jsonl(tmp_path / "x.jsonl.gz", [record("c1", ISO)]), DAY)
    assert load_usage_file(wh, path, DAY).records == 0
    assert staged(wh) == []


def test_crm_snapshot_replaces_its_date_only(wh) -> None:
    row = CrmRow(
        company_id="c1", company_name="Müller AG", industry_tag=None, country="DE", last_contact_date=date(2026, 4, 30)
    )
    load_crm_snapshot(
        wh,
        [row, CrmRow(company_id="c2", company_name=None, industry_tag=None, country=None, last_contact_date=None)],
        DAY,
    )
    load_crm_snapshot(
        wh,
        [CrmRow(company_id="c7", company_name="Old", industry_tag="x", country="y", last_contact_date=None)],
        date(2026, 5, 3),
    )
    load_crm_snapshot(wh, [row], DAY)
    rows = wh.query("SELECT snapshot_date, company_id, company_name, industry_tag, country, last_contact_date "
                    "FROM stg.crm_company ORDER BY snapshot_date, company_id")
    assert [tuple(r.values()) for r in rows] == [
        (date(2026, 5, 3), "c7", "Old", "x", "y", None),
        (DAY, "c1", "Müller AG", None, "DE", date(2026, 4, 30)),
    ]


def test_ingestion_and_the_crm_parser_measure_ids_against_the_staging_columns(wh) -> None:
    """The validators' byte limits are the VARCHAR(n) of the columns they feed (bytes under the UTF-8
    collation): a limit that drifted from the column would let the copy fail on a value ingestion accepted."""
    assert wh.declared_lengths("stg", "product_usage_daily")["company_id"] == ("varchar", MAX_COMPANY_ID_BYTES)
    crm = wh.declared_lengths("stg", "crm_company")
    assert {name: crm[name] for name in MAX_BYTES} == {name: ("varchar", n) for name, n in MAX_BYTES.items()}
