"""`bronze download`, `show rejects` and `crm generate | upload | download` against Azurite and the simulator."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from company_activity.ingest import bronze
from company_activity_local.cli import main
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.crm_generator import CrmGenerator, crm_csv_bytes
from company_activity_local.services.simulator import UsageApiSimulator
from company_activity_local.warehouse.crm import CRM_HEADER, crm_blob_path

DAY = date(2026, 3, 10)


@pytest.fixture()
def storage_env(monkeypatch: pytest.MonkeyPatch, azurite: Azurite, container_name: str,
                blob_service: BlobServiceClient) -> Iterator[ContainerClient]:
    monkeypatch.setenv("STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("BRONZE_CONTAINER", container_name)
    for name in ("STORAGE_ACCOUNT_URL", "REJECT_THRESHOLD", "USAGE_API_BASE_URL", "USAGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    container = blob_service.get_container_client(container_name)
    yield container
    if container.exists():
        container.delete_container()


def ingest(api: UsageApiSimulator, day: date, threshold: str = "0.2") -> int:
    return main(["ingest", "--date", day.isoformat(), "--api-url", api.base_url, "--reject-threshold", threshold])


def test_download_saves_the_committed_run_byte_for_byte(
        storage_env: ContainerClient, usage_api_factory: Callable[..., UsageApiSimulator], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = usage_api_factory("invalid@0.05", companies=200)
    monkeypatch.setenv("USAGE_API_KEY", api.api_key)
    assert ingest(api, DAY) == 0
    manifest = bronze.read_manifest(storage_env, DAY)
    assert manifest is not None and manifest.rejected_count > 0
    capsys.readouterr()

    assert main(["bronze", "download", "--date", DAY.isoformat(), "--out", str(tmp_path / "b")]) == 0
    for entry in (*manifest.files, *manifest.rejected_files):
        saved = (tmp_path / "b" / entry.path).read_bytes()
        assert saved == storage_env.get_blob_client(entry.path).download_blob().readall()
        assert hashlib.sha256(saved).hexdigest() == entry.sha256
    saved_manifest = bronze.Manifest.from_json((tmp_path / "b" / bronze.manifest_path(DAY)).read_bytes())
    assert saved_manifest == manifest
    assert f"run {manifest.run_id}, {manifest.record_count} records" in capsys.readouterr().out

    # A day that is not committed: reported, exit 1, nothing written for it.
    other = date(2026, 3, 11)
    assert main(["bronze", "download", "--date", other.isoformat(), "--out", str(tmp_path / "b")]) == 1
    assert f"{other}: not committed" in capsys.readouterr().err
    assert not (tmp_path / "b" / bronze.day_prefix(other)).exists()


def test_a_damaged_file_is_refused_and_never_appears(
        storage_env: ContainerClient, usage_api_factory: Callable[..., UsageApiSimulator], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = usage_api_factory(companies=50)
    monkeypatch.setenv("USAGE_API_KEY", api.api_key)
    assert ingest(api, DAY) == 0
    manifest = bronze.read_manifest(storage_env, DAY)
    assert manifest is not None
    part = manifest.files[0].path
    lines = gzip.decompress(storage_env.get_blob_client(part).download_blob().readall()).splitlines()
    storage_env.get_blob_client(part).upload_blob(gzip.compress(b"\n".join(lines[:-1]) + b"\n"), overwrite=True)
    capsys.readouterr()

    assert main(["bronze", "download", "--date", DAY.isoformat(), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert part in err and "does not match its manifest" in err
    assert not (tmp_path / part).exists()
    assert not list(tmp_path.rglob("*.partial"))


def test_show_rejects_of_the_committed_run_and_of_a_run_that_was_not_committed(
        storage_env: ContainerClient, usage_api_factory: Callable[..., UsageApiSimulator],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = usage_api_factory("invalid@0.05", companies=200)
    monkeypatch.setenv("USAGE_API_KEY", api.api_key)
    assert ingest(api, DAY) == 0
    manifest = bronze.read_manifest(storage_env, DAY)
    assert manifest is not None
    capsys.readouterr()

    assert main(["show", "rejects", "--date", DAY.isoformat(), "--json", "--limit", "1000"]) == 0
    shown = json.loads(capsys.readouterr().out)
    stored = [json.loads(line) for entry in manifest.rejected_files
              for line in gzip.decompress(storage_env.get_blob_client(entry.path).download_blob().readall())
              .splitlines()]
    assert shown["rejects"] == stored and len(stored) == manifest.rejected_count > 0
    assert all(item["reason"] for item in shown["rejects"])

    # Over the threshold: not committed; the command points at the run folder, --run shows its rejects.
    other = date(2026, 3, 12)
    assert ingest(api, other, threshold="0.0") == 1
    capsys.readouterr()
    assert main(["show", "rejects", "--date", other.isoformat()]) == 1
    err = capsys.readouterr().err
    [run_id] = bronze.run_ids(storage_env, other)
    assert f"{other} is not committed" in err and run_id in err
    assert main(["show", "rejects", "--date", other.isoformat(), "--run", run_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rejects"]
    assert main(["show", "rejects", "--date", other.isoformat(), "--run", "20260101T000000Z-00000000"]) == 1
    assert "no such run folder" in capsys.readouterr().err


def test_crm_generate_upload_download_round_trip(storage_env: ContainerClient, blob_service: BlobServiceClient,
                                                 container_name: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    crm_container = container_name + "-crm"
    out = tmp_path / "export.csv"
    assert main(["crm", "generate", "--date", DAY.isoformat(), "--companies", "30", "--seed", "3",
                 "--out", str(out)]) == 0
    assert out.read_bytes() == crm_csv_bytes(CrmGenerator(30, seed=3).snapshot(DAY))
    # Issue 21: "--companies 30" used to answer "wrote 31 companies"; the line now accounts for the 30 asked for.
    generator = CrmGenerator(30, seed=3)
    rows, usage_only = len(generator.snapshot(DAY)), generator.usage_only()
    assert usage_only > 0 and rows == 30 - usage_only + 3
    said = capsys.readouterr().out
    assert f"for the simulator's 30 companies to {out}: {rows} rows, {30 - usage_only} of the 30 (the other " \
           f"{usage_only} are usage-only on purpose) and 3 CRM-only companies" in said
    assert main(["crm", "upload", "--date", DAY.isoformat(), str(out), "--crm-container", crm_container]) == 0
    blob = blob_service.get_container_client(crm_container).get_blob_client(crm_blob_path(DAY))
    assert blob.download_blob().readall() == out.read_bytes()
    capsys.readouterr()

    assert main(["crm", "download", "--dates", f"{DAY}..2026-03-11", "--out", str(tmp_path / "d"),
                 "--crm-container", crm_container]) == 1  # the 11th has no snapshot
    assert (tmp_path / "d" / crm_blob_path(DAY)).read_bytes() == out.read_bytes()
    assert "2026-03-11: no snapshot" in capsys.readouterr().err
    blob_service.delete_container(crm_container)


@pytest.mark.parametrize(("content", "message"), [
    ("id,name\nc1,x\n", "line 1: column(s) company_id"),
    (",".join(CRM_HEADER) + "\nc1,Acme,,US,2026-02-30\nc2,Globex,,US,\n", "line 2, last_contact_date"),
])
def test_crm_upload_refuses_a_file_the_contract_refuses(storage_env: ContainerClient, container_name: str,
                                                        blob_service: BlobServiceClient, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str], content: str,
                                                        message: str) -> None:
    crm_container = container_name + "-crm"
    path = tmp_path / "export.csv"
    path.write_text(content)
    assert main(["crm", "upload", "--date", DAY.isoformat(), str(path), "--crm-container", crm_container]) == 2
    err = capsys.readouterr().err
    assert message in err and "nothing was uploaded" in err
    container = blob_service.get_container_client(crm_container)
    assert not container.exists() or not container.get_blob_client(crm_blob_path(DAY)).exists()
    if "line 2" in message:  # rejected rows only: --allow-rejects uploads the file as it is
        assert main(["crm", "upload", "--date", DAY.isoformat(), str(path), "--crm-container", crm_container,
                     "--allow-rejects"]) == 0
        assert container.get_blob_client(crm_blob_path(DAY)).download_blob().readall() == path.read_bytes()
    if container.exists():
        container.delete_container()


def test_crm_upload_refuses_a_snapshot_without_rows(storage_env: ContainerClient, container_name: str,
                                                    blob_service: BlobServiceClient, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 21: a header-only export used to replace the date's snapshot (`uploaded ... (0 rows)`, exit 0)."""
    crm_container = container_name + "-crm"
    full = tmp_path / "full.csv"
    assert main(["crm", "generate", "--date", DAY.isoformat(), "--companies", "30", "--out", str(full)]) == 0
    assert main(["crm", "upload", "--date", DAY.isoformat(), str(full), "--crm-container", crm_container]) == 0
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(CRM_HEADER) + "\n")
    capsys.readouterr()

    assert main(["crm", "upload", "--date", DAY.isoformat(), str(header_only), "--crm-container", crm_container]) == 2
    err = capsys.readouterr().err
    assert "has no company rows (header only)" in err and "nothing was uploaded" in err and "--allow-empty" in err
    blob = blob_service.get_container_client(crm_container).get_blob_client(crm_blob_path(DAY))
    assert blob.download_blob().readall() == full.read_bytes()  # the date's snapshot is unchanged

    assert main(["crm", "upload", "--date", DAY.isoformat(), str(header_only), "--crm-container", crm_container,
                 "--allow-empty"]) == 0
    assert "(0 rows)" in capsys.readouterr().out
    assert blob.download_blob().readall() == header_only.read_bytes()
    blob_service.delete_container(crm_container)
