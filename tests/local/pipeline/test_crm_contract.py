"""One CRM contract on both paths: the same files are accepted or refused by `transform` (the replay) and by
`pipeline run`'s Copy into stg.crm_company (+ the merge procedure), see docs/crm.md."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from company_activity.ingest.bronze import read_manifest
from company_activity_local.cli import main
from company_activity_local.pipeline import resources as rs
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.services.azurite import Azurite
from company_activity_local.warehouse.crm import crm_blob_path
from tests.support.night import PARAMETERS, PIPELINE, LocalNight, local_night

DAY = date(2026, 3, 1)
HEADER = "company_id,company_name,industry_tag,country,last_contact_date"
ROW = "c000001,Acme,saas,US,2026-02-20"
LONG = "x" * 300
CASES = {
    # name: (file content, accepted by the contract?)
    "exact header": (f"{HEADER}\n{ROW}\nc000002,Beta,,DE,\n", True),
    "reordered header": ("country,company_id,last_contact_date,industry_tag,company_name\n"
                         "US,c000001,2026-02-20,saas,Acme\n", True),
    "extra column": (f"{HEADER},owner\n{ROW},alice\n", True),
    "missing column": ("company_id,company_name,industry_tag,last_contact_date\nc000001,Acme,saas,2026-02-20\n", False),
    "column name in other case": (f"Company_ID,company_name,industry_tag,country,last_contact_date\n{ROW}\n", False),
    "300-character name": (f"{HEADER}\nc000001,{LONG},saas,US,\n", False),
    "duplicate company_id": (f"{HEADER}\n{ROW}\n{ROW}\n", False),
    "not a calendar date": (f"{HEADER}\nc000001,Acme,saas,US,2026-02-30\n", False),
    "too many fields": (f"{HEADER}\n{ROW},surplus\n", False),
    "empty company_id": (f"{HEADER}\n,Acme,saas,US,\n", False),
    "company_id with a space": (f"{HEADER}\nc000001 ,Acme,saas,US,\n", False),
    "basic-format date": (f"{HEADER}\nc000001,Acme,saas,US,20260220\n", False),
    "slash-separated date": (f"{HEADER}\nc000001,Acme,saas,US,2026/02/20\n", False),
    "date without zero padding": (f"{HEADER}\nc000001,Acme,saas,US,2026-2-20\n", False),
    "contact date before 1900": (f"{HEADER}\nc000001,Acme,saas,US,0001-01-01\n", False),
}


@pytest.fixture(scope="module")
def night(azurite: Azurite, tmp_path_factory) -> Iterator[LocalNight]:
    folder = tmp_path_factory.mktemp("contract")
    with local_night(azurite.connection_string, folder, 10, 5) as local:
        local.ingest(DAY)
        yield local


@pytest.fixture(scope="module")
def bronze_folder(night: LocalNight, tmp_path_factory) -> Path:
    manifest = read_manifest(night.bronze, DAY)
    assert manifest is not None
    folder = tmp_path_factory.mktemp("bronze")
    for entry in manifest.files:
        target = folder / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(night.bronze.get_blob_client(entry.path).download_blob().readall())
    return folder / manifest.run_path


@pytest.mark.parametrize("case", list(CASES))
def test_transform_and_pipeline_accept_and_refuse_the_same_crm_files(case, night, bronze_folder, tmp_path,
                                                                       capsys) -> None:
    content, accepted = CASES[case]
    crm = tmp_path / "crm" / crm_blob_path(DAY)
    crm.parent.mkdir(parents=True)
    crm.write_text(content, encoding="utf-8")
    code = main(["transform", "--date", DAY.isoformat(), "--usage", str(bronze_folder), "--crm", str(crm),
                 "--warehouse", str(tmp_path / "replay.duckdb")])
    replay_err = capsys.readouterr().err
    night.crm.upload_blob(crm_blob_path(DAY), content.encode(), overwrite=True)
    result = night.run(DAY)
    assert (code == 0) is accepted, replay_err
    assert result.succeeded is accepted, result.message
    if not accepted:
        assert code == 2 and "Traceback" not in replay_err


def test_procedure_retries_are_reported_as_they_happen(night, tmp_path) -> None:
    events = []
    night.executor.wait_listener = events.append
    try:
        night.crm.upload_blob(crm_blob_path(DAY), CASES["duplicate company_id"][0].encode(), overwrite=True)
        result = night.run(DAY)
    finally:
        night.executor.wait_listener = None
    assert not result.succeeded
    retries = [e for e in events if e.kind == "retry"]
    assert [(e.activity, e.detail.split(":")[0]) for e in retries] == [
        ("MergeFactDailyCompanyActivity", "attempt 1 of 3 failed"),
        ("MergeFactDailyCompanyActivity", "attempt 2 of 3 failed"),
    ]
    assert "duplicate rows for snapshot_date 2026-03-01" in retries[0].detail



@pytest.mark.parametrize(("case", "replay_says", "pipeline_says"), [
    ("300-character name", "line 2, company_name: company_name is 300 bytes in UTF-8, at most 200 allowed",
     "companies.csv:2: column 'company_name' (source company_name): cannot convert 'xxxx"),
    ("missing column", "column(s) country missing",
     "column(s) ['country'] specified in the column mapping cannot be found in the source header"),
    ("slash-separated date", "line 2, last_contact_date: must be a date YYYY-MM-DD, got '2026/02/20'",
     "companies.csv:2: column 'last_contact_date' (source last_contact_date): cannot convert '2026/02/20' to DATE: "
     "does not match the dateFormat 'yyyy-MM-dd'"),
    ("company_id with a space", "line 2, company_id: company_id has leading or trailing whitespace",
     "stg.crm_company: company_id 'c000001 ' of snapshot_date 2026-03-01 has leading or trailing whitespace"),
    ("contact date before 1900", "line 2, last_contact_date: last_contact_date is before 1900-01-01",
     "stg.crm_company: company_id 'c000001' of snapshot_date 2026-03-01 has last_contact_date 0001-01-01, "
     "before 1900-01-01"),
])
def test_both_paths_name_what_is_wrong(case, replay_says, pipeline_says, night, bronze_folder, tmp_path,
                                       capsys) -> None:
    content = CASES[case][0]
    crm = tmp_path / "crm" / crm_blob_path(DAY)
    crm.parent.mkdir(parents=True)
    crm.write_text(content, encoding="utf-8")
    assert main(["transform", "--date", DAY.isoformat(), "--usage", str(bronze_folder), "--crm", str(crm),
                 "--warehouse", str(tmp_path / "replay.duckdb")]) == 2
    assert replay_says in capsys.readouterr().err
    night.crm.upload_blob(crm_blob_path(DAY), content.encode(), overwrite=True)
    assert pipeline_says in night.run(DAY).message


def _run_with_date_format(night: LocalNight, date_format: str, date_time_format: str | None = None):
    """The nightly run with CopyCrmToStaging's typeConversionSettings.dateFormat replaced, and the snapshot_date
    column the copy adds written in that format (the setting converts it to DATE too)."""
    factory = copy.deepcopy(night.executor.factory)
    crm_copy = next(i.activity for i in rs.walk_activities(rs.pipeline_activities(factory.pipelines[PIPELINE]))
                    if i.activity["name"] == "CopyCrmToStaging")
    settings = crm_copy["typeProperties"]["translator"]["typeConversionSettings"]
    settings["dateFormat"] = date_format
    settings["dateTimeFormat"] = date_time_format or date_format
    crm_copy["typeProperties"]["source"]["additionalColumns"][0]["value"]["value"] = \
        f"@formatDateTime(pipeline().parameters.runDate, '{date_format}')"
    executor = PipelineExecutor(factory, night.resources, retry_interval_s=0,
                                global_parameters={"bronzeContainer": night.bronze.container_name,
                                                   "crmContainer": night.crm.container_name})
    return executor.run(PIPELINE, {"runDate": DAY.isoformat(), **PARAMETERS})


def test_the_local_copy_reads_dates_in_the_copys_date_format(night) -> None:
    """The copy honours typeConversionSettings.dateFormat, not a fixed YYYY-MM-DD: with dd.MM.yyyy the
    day-first date loads and the ISO one is refused (the shipped pipeline says yyyy-MM-dd, the contract)."""
    night.crm.upload_blob(crm_blob_path(DAY), f"{HEADER}\nc000001,Acme,saas,US,20.02.2026\n".encode(), overwrite=True)
    result = _run_with_date_format(night, "dd.MM.yyyy")
    assert result.succeeded, result.message
    rows = night.warehouse.query("SELECT last_contact_date FROM stg.crm_company WHERE company_id = 'c000001'")
    assert [r["last_contact_date"] for r in rows] == [date(2026, 2, 20)]
    night.crm.upload_blob(crm_blob_path(DAY), f"{HEADER}\n{ROW}\n".encode(), overwrite=True)
    result = _run_with_date_format(night, "dd.MM.yyyy")
    assert not result.succeeded
    assert "cannot convert '2026-02-20' to DATE: does not match the dateFormat 'dd.MM.yyyy'" in result.message


@pytest.mark.parametrize(("date_format", "reason"), [
    ("yyyy/MM/dd", "character '/' at position 4"),
    ("yy-MM-dd", "token 'yy'"),
])
def test_a_date_format_the_local_copy_does_not_understand_fails_the_copy(date_format, reason, night) -> None:
    night.crm.upload_blob(crm_blob_path(DAY), f"{HEADER}\n{ROW}\n".encode(), overwrite=True)
    result = _run_with_date_format(night, date_format)
    assert not result.succeeded
    assert f"typeConversionSettings.dateFormat {date_format!r}: {reason}" in result.message


def test_a_date_time_format_other_than_the_date_format_fails_the_copy(night) -> None:
    """Which of the two ADF applies to a SQL date column is not documented: locally they must agree."""
    night.crm.upload_blob(crm_blob_path(DAY), f"{HEADER}\n{ROW}\n".encode(), overwrite=True)
    result = _run_with_date_format(night, "yyyy-MM-dd", "yyyy-MM-dd HH:mm:ss")
    assert not result.succeeded
    assert "typeConversionSettings.dateTimeFormat 'yyyy-MM-dd HH:mm:ss' differs from dateFormat 'yyyy-MM-dd'" \
        in result.message
