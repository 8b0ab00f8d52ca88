"""No CLI path prints a traceback for bad input or bad settings: each row is a command a user might type,
with the exit code and the words of the error it must print instead (naming the option or setting).

Every case of issue 12 is here: an empty usage file, an over-long CRM name, a malformed connection string
and a bad account key, a wrong storage port, a refused API key in a backfill, settings that are not numbers,
future dates and over-long ranges, a taken port, the local pipeline's own settings. And every case of issue
21: a usage file that does not match the bronze manifest beside it, a header-only CRM upload, a mistyped
warehouse path (sql deploy, transform, pipeline run, backfill --load), a refused storage connection, a
`show` that matches nothing, the dashboard's WAREHOUSE_PATH.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from azure.core.pipeline.transport import HttpTransport

from company_activity.ingest import bronze
from company_activity.ingest.usage_api import RetryPolicy, UsageApiClient, UsageApiError
from company_activity.settings import Secret
from company_activity_local.cli import main
from company_activity_local.services.processes import free_port
from company_activity_local.warehouse.crm import CRM_HEADER

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SECRET_KEY_PART = "c2VjcmV0LWtleS1wYXJ0"  # must never be printed
DAY = "2026-06-10"


def closed_port_connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.jsonl.gz"
    empty.write_bytes(gzip.compress(b""))
    usage = tmp_path / "usage.jsonl"
    usage.write_text(json.dumps({"company_id": "c1", "date": DAY, "active_users": 1, "events": 2}) + "\n")
    long_name = tmp_path / "long.csv"
    long_name.write_text("company_id,company_name,industry_tag,country,last_contact_date\n"
                         f"c1,{'x' * 300},saas,US,\n")
    header = tmp_path / "header.csv"
    header.write_text("id,name\nc1,Acme\n")
    header_only = tmp_path / "header-only.csv"
    header_only.write_text(",".join(CRM_HEADER) + "\n")
    return {"empty": empty, "usage": usage, "long_name": long_name, "header": header, "header_only": header_only,
            "dir": tmp_path, "truncated_run": truncated_bronze_run(tmp_path / "bronze")}


def truncated_bronze_run(root: Path) -> Path:
    """A bronze run folder as `bronze download` saves it, whose part file was then cut at a line boundary: valid
    gzip, valid records, 2 of the 3 the manifest committed."""
    lines = [json.dumps({"company_id": f"c{i}", "date": DAY, "active_users": 1, "events": 2}) + "\n" for i in range(3)]
    committed = gzip.compress("".join(lines).encode())
    run_id = bronze.new_run_id()
    day = date.fromisoformat(DAY)
    part = bronze.data_file_path(day, run_id, bronze.PART_PREFIX, 0)
    when = datetime.now(UTC)
    manifest = bronze.Manifest(
        dataset=bronze.DATASET, date=day, run_id=run_id, record_count=3, rejected_count=0,
        files=(bronze.BronzeFile(part, 3, len(committed), hashlib.sha256(committed).hexdigest()),),
        rejected_files=(), started_at=when, committed_at=when, source=bronze.Source("http://127.0.0.1:1", 1))
    (root / part).parent.mkdir(parents=True)
    (root / part).write_bytes(gzip.compress("".join(lines[:2]).encode()))
    (root / bronze.manifest_path(day)).write_bytes(manifest.to_json())
    return (root / part).parent


@pytest.fixture()
def deployed(tmp_path: Path) -> Path:
    """A deployed warehouse without any loaded date."""
    path = tmp_path / "deployed.duckdb"
    assert main(["sql", "deploy", "--warehouse", str(path)]) == 0
    return path


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> int:
    """Complete, valid settings whose storage and API endpoints are closed loopback ports."""
    closed = free_port()
    for name, value in {
        "USAGE_API_BASE_URL": f"http://127.0.0.1:{closed}",
        "USAGE_API_KEY": "k",
        "STORAGE_CONNECTION_STRING": closed_port_connection_string(closed),
        "LOCAL_BLOB_CONNECTION_STRING": closed_port_connection_string(closed),
        "WAREHOUSE_PATH": str(tmp_path / "wh.duckdb"),
        "INGEST_TIMEZONE": "UTC",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("STORAGE_ACCOUNT_URL", "WAREHOUSE_CONNECTION_STRING", "SLACK_WEBHOOK_URL", "BACKFILL_MAX_DAYS",
                 "USAGE_API_PAGE_SIZE", "REJECT_THRESHOLD", "BRONZE_CONTAINER"):
        monkeypatch.delenv(name, raising=False)
    return closed


BAD_KEY = f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey={SECRET_KEY_PART}x;BlobEndpoint=http://127.0.0.1:1/a"
MALFORMED = f"AccountName=a;{SECRET_KEY_PART}"

# (id, extra environment, argv with {placeholders}, exit code, words the output must contain)
CASES = [
    ("transform: empty usage file", {}, ["transform", "--date", DAY, "--usage", "{empty}"], 2,
     ["hold 0 records", "--allow-empty-usage", "Nothing was changed"]),
    ("transform: 300-character CRM name", {}, ["transform", "--date", DAY, "--usage", "{usage}", "--crm",
                                               "{long_name}"], 2, ["line 2, company_name", "at most 200"]),
    ("transform: CRM header without the contract columns", {},
     ["transform", "--date", DAY, "--usage", "{usage}", "--crm", "{header}"], 2, ["missing", "line 1"]),
    ("transform: future run date", {}, ["transform", "--date", "2099-01-01", "--usage", "{usage}"], 2,
     ["--date", "after yesterday"]),
    ("transform: not a calendar date", {}, ["transform", "--date", "2026-02-30", "--usage", "{usage}"], 2,
     ["--date", "not a calendar date"]),
    ("transform: missing usage file", {}, ["transform", "--date", DAY, "--usage", "{dir}/nope.jsonl"], 2,
     ["no such usage file"]),
    ("ingest: malformed STORAGE_CONNECTION_STRING", {"STORAGE_CONNECTION_STRING": MALFORMED},
     ["ingest", "--date", DAY], 2, ["STORAGE_CONNECTION_STRING is malformed", "value hidden"]),
    ("ingestions: malformed STORAGE_CONNECTION_STRING", {"STORAGE_CONNECTION_STRING": MALFORMED},
     ["ingestions", "--dates", f"{DAY}..{DAY}"], 2, ["STORAGE_CONNECTION_STRING is malformed"]),
    ("ingest: bad account key", {"STORAGE_CONNECTION_STRING": BAD_KEY}, ["ingest", "--date", DAY], 2,
     ["STORAGE_CONNECTION_STRING: AccountKey is not valid base64"]),
    ("ingestions: wrong storage port", {}, ["ingestions", "--dates", f"{DAY}..{DAY}"], 1, ["storage error"]),
    ("ingest: page size not a number", {"USAGE_API_PAGE_SIZE": "lots"}, ["ingest", "--date", DAY], 2,
     ["USAGE_API_PAGE_SIZE must be a whole number, got 'lots'"]),
    ("ingest: future date", {}, ["ingest", "--date", "2099-01-01"], 2, ["--date", "after yesterday"]),
    ("backfill: start after end", {}, ["backfill", "--dates", "2026-06-10..2026-06-01"], 2,
     ["--dates", "end 2026-06-01 is before start 2026-06-10"]),
    ("backfill: range over BACKFILL_MAX_DAYS", {"BACKFILL_MAX_DAYS": "5"},
     ["backfill", "--dates", "2026-06-01..2026-06-10"], 2, ["spans 10 days", "BACKFILL_MAX_DAYS"]),
    ("pipeline run: future date", {}, ["pipeline", "run", "--date", "2099-01-01"], 2, ["--date", "after yesterday"]),
    ("pipeline run: five-year range", {}, ["pipeline", "run", "--dates", "2020-01-01..2024-12-31"], 2,
     ["spans 1827 days", "BACKFILL_MAX_DAYS"]),
    ("pipeline run: range backwards", {}, ["pipeline", "run", "--dates", "2026-06-10..2026-06-01"], 2,
     ["before start"]),
    ("pipeline run: malformed LOCAL_BLOB_CONNECTION_STRING", {"LOCAL_BLOB_CONNECTION_STRING": MALFORMED},
     ["pipeline", "run", "--date", DAY], 2, ["LOCAL_BLOB_CONNECTION_STRING is malformed"]),
    ("pipeline run: WAREHOUSE_PATH is a folder", {"WAREHOUSE_PATH": "{dir}"}, ["pipeline", "run", "--date", DAY],
     2, ["WAREHOUSE_PATH must be a DuckDB file path"]),
    ("pipeline run: bad --param", {}, ["pipeline", "run", "--date", DAY, "--param", "novalue"], 2,
     ["--param expects NAME=VALUE"]),
    ("pipeline run: negative --retry-interval", {}, ["pipeline", "run", "--date", DAY, "--retry-interval", "-1"],
     2, ["argument --retry-interval: must be >= 0"]),
    ("demo: future dates", {}, ["demo", "--dates", "2099-01-01..2099-01-02"], 2, ["--dates end", "after yesterday"]),
    # Without any target sql deploy uses out/warehouse.duckdb like every command; two targets are ambiguous.
    ("sql deploy: two targets", {"WAREHOUSE_CONNECTION_STRING": "Driver=x;Server=y"}, ["sql", "deploy"], 2,
     ["both WAREHOUSE_CONNECTION_STRING and WAREHOUSE_PATH are set"]),
    ("show fact: no warehouse file", {"WAREHOUSE_PATH": "{dir}/absent.duckdb"}, ["show", "fact"], 1,
     ["no warehouse at"]),
    ("bronze download: bad --dates", {}, ["bronze", "download", "--dates", "2026-06-10"], 2,
     ["--dates expects START..END"]),
    ("crm upload: missing file", {}, ["crm", "upload", "--date", DAY, "{dir}/none.csv"], 2, ["no such file"]),
    # Issue 21.
    ("transform: usage file cut at a line boundary, manifest beside it", {},
     ["transform", "--date", DAY, "--usage", "{truncated_run}"], 2,
     ["part-00000.jsonl.gz does not match its manifest", "sha256", "Nothing was changed", "--ignore-manifest"]),
    ("crm upload: header only", {}, ["crm", "upload", "--date", DAY, "{header_only}"], 2,
     ["has no company rows (header only)", "nothing was uploaded", "--allow-empty"]),
    ("sql deploy: mistyped warehouse folder", {}, ["sql", "deploy", "--warehouse", "{dir}/ot/warehouse.duckdb"], 2,
     ["no folder", "ot' for the warehouse", "a mistyped path?", "Nothing was created"]),
    ("transform: mistyped WAREHOUSE_PATH folder", {"WAREHOUSE_PATH": "{dir}/ot/warehouse.duckdb"},
     ["transform", "--date", DAY, "--usage", "{usage}"], 2, ["no folder", "Nothing was created"]),
    ("pipeline run: mistyped --warehouse folder", {},
     ["pipeline", "run", "--date", DAY, "--warehouse", "{dir}/ot/warehouse.duckdb"], 2, ["no folder"]),
    ("backfill --load: mistyped --warehouse folder, nothing ingested", {},
     ["backfill", "--date", DAY, "--load", "--warehouse", "{dir}/ot/warehouse.duckdb"], 2,
     ["no folder", "Nothing was created"]),
    ("ingest: storage refuses the connection", {}, ["ingest", "--date", DAY], 1,
     ["storage error", "is Azurite running? `company-activity services up` starts it"]),
    ("pipeline run: storage refuses the connection", {},
     ["pipeline", "run", "--date", DAY, "--retry-interval", "0", "--manifest-timeout", "0.00:00:02"], 1,
     ["runDate=2026-06-10 Failed", "is Azurite running? `company-activity services up` starts it"]),
    ("show fact: a date with no rows", {"WAREHOUSE_PATH": "{deployed}"}, ["show", "fact", "--date", DAY], 1,
     [f"no rows in dbo.fact_daily_company_activity for --date {DAY} (it is empty)"]),
    ("dashboard: WAREHOUSE_PATH names a missing file", {"WAREHOUSE_PATH": "{dir}/absent.duckdb"}, ["dashboard"], 1,
     ["no warehouse at", "absent.duckdb"]),
]


@pytest.mark.parametrize(("extra", "argv", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error_not_a_traceback(extra, argv, code, words, env, files, monkeypatch,
                                                      capsys, request) -> None:
    # The storage SDK still retries a refused connection as the product configures it; only its backoff sleeps
    # (random, up to ~5 s per command) are skipped, as the error printed after the last attempt is what is checked.
    monkeypatch.setattr(HttpTransport, "sleep", lambda _self, _duration: None)
    places = {k: str(v) for k, v in files.items()}
    if any("{deployed}" in v for v in extra.values()):
        places["deployed"] = str(request.getfixturevalue("deployed"))
    capsys.readouterr()
    for name, value in extra.items():
        monkeypatch.setenv(name, value.format(**places))
    try:
        result = main([a.format(**places) for a in argv])
    except SystemExit as exc:  # argparse's own usage errors
        result = exc.code
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert result == code, output
    assert "Traceback" not in output
    assert SECRET_KEY_PART not in output
    for word in words:
        assert word in output
    assert not (files["dir"] / "ot").exists()  # a mistyped warehouse folder is never created


def test_simulator_port_clash_names_the_port(env, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["simulate-api", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "another process uses it" in err


def test_an_unreachable_api_is_a_failure_every_date_shares(env) -> None:
    fast = RetryPolicy(max_attempts=2, max_total_s=5, backoff_initial_s=0.001, backoff_max_s=0.01)
    with UsageApiClient(f"http://127.0.0.1:{env}", Secret("k"), retry=fast) as client, \
            pytest.raises(UsageApiError) as caught:
        list(client.iter_pages(date(2026, 6, 10)))
    assert caught.value.systemic


@pytest.mark.cli
def test_a_reader_that_goes_away_gets_no_traceback(tmp_path: Path) -> None:
    """`company-activity show ... --json | head` closes the pipe early: exit 1, nothing on stderr."""
    import subprocess
    import sys

    script = Path(sys.executable).with_name("company-activity")
    warehouse = tmp_path / "wh.duckdb"
    assert main(["sql", "deploy", "--warehouse", str(warehouse)]) == 0
    proc = subprocess.Popen([str(script), "show", "load-log", "--json", "--warehouse", str(warehouse)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the command writes anything
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
