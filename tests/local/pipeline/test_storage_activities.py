"""Validation, Lookup and GetMetadata against real Azurite, through small synthetic pipelines."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from azure.storage.blob import ContainerClient

from company_activity.settings import Secret
from company_activity_local.pipeline import datasets
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.local_resources import LocalResources
from company_activity_local.pipeline.results import ActivityFailed, Status
from company_activity_local.services.azurite import ACCOUNT_KEY, Azurite
from company_activity_local.settings import LocalRunSettings
from tests.support.pipeline_fixtures import factory_of

LINKED = {"LS_blob": {"name": "LS_blob", "properties": {"type": "AzureBlobStorage", "typeProperties": {}}}}


def blob_dataset(name: str, kind: str, *, file_name: bool = True, **type_props: Any) -> dict[str, Any]:
    location: dict[str, Any] = {"type": "AzureBlobStorageLocation",
                                "container": {"value": "@dataset().container", "type": "Expression"},
                                "folderPath": {"value": "@dataset().folder", "type": "Expression"}}
    parameters: dict[str, Any] = {"container": {"type": "String"}, "folder": {"type": "String"}}
    if file_name:
        location["fileName"] = {"value": "@dataset().file", "type": "Expression"}
        parameters["file"] = {"type": "String"}
    return {"name": name, "properties": {"type": kind, "linkedServiceName": {
        "referenceName": "LS_blob", "type": "LinkedServiceReference"}, "parameters": parameters,
        "typeProperties": {"location": location, **type_props}}}


DATASETS = {
    "DS_json": blob_dataset("DS_json", "Json"),
    "DS_folder": blob_dataset("DS_folder", "Json", file_name=False),
    "DS_csv": blob_dataset("DS_csv", "DelimitedText", columnDelimiter=",", quoteChar='"', escapeChar='"',
                           firstRowAsHeader=True, nullValue=""),
}


def ref(dataset: str, container: str, folder: str, file: str | None = None) -> dict[str, Any]:
    params = {"container": container, "folder": folder}
    if file is not None:
        params["file"] = file
    return {"referenceName": dataset, "type": "DatasetReference", "parameters": params}


@pytest.fixture()
def blob_resources(azurite: Azurite) -> Iterator[LocalResources]:
    settings = LocalRunSettings(blob_connection_string=Secret(azurite.connection_string))
    with LocalResources(settings) as resources:
        yield resources


def run(resources: LocalResources, *activities: dict[str, Any]):
    pipeline = {"name": "PL", "properties": {"activities": list(activities)}}
    factory = factory_of(pipeline, datasets=DATASETS, linked_services=LINKED)
    return PipelineExecutor(factory, resources).run("PL")


def validation(container: str, folder: str, file: str, *, timeout: str = "0.00:00:01", sleep: int = 1,
               **extra: Any) -> dict[str, Any]:
    return {"name": "wait", "type": "Validation", "typeProperties": {
        "dataset": ref("DS_json", container, folder, file), "timeout": timeout, "sleep": sleep, **extra}}


def test_validation_waits_until_the_blob_appears(blob_resources: LocalResources, container: ContainerClient) -> None:
    timer = threading.Timer(0.3, lambda: container.upload_blob("day/_manifest.json", b"{}"))
    timer.start()
    try:
        result = run(blob_resources,
                     validation(container.container_name, "day", "_manifest.json", timeout="0.00:00:20"))
    finally:
        timer.join()
    assert result.status is Status.SUCCEEDED
    assert result.activity("wait").output["size"] == 2


def test_validation_times_out_naming_the_blob(blob_resources: LocalResources, container: ContainerClient) -> None:
    result = run(blob_resources, validation(container.container_name, "day", "_manifest.json"))
    assert result.status is Status.FAILED
    error = result.activity("wait").error
    assert error is not None and error.error_code == "ValidationTimedOut"
    assert f"{container.container_name}/day/_manifest.json does not exist" in error.message


def test_validation_of_a_container_fails_at_once_when_storage_refuses_the_credential(azurite: Azurite) -> None:
    """A refused key is not "the container is not there yet": the activity fails with storage's answer
    instead of polling until its timeout and reporting a missing container."""
    wrong_key = azurite.connection_string.replace(ACCOUNT_KEY, "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=")
    settings = LocalRunSettings(blob_connection_string=Secret(wrong_key))
    with LocalResources(settings) as resources:
        result = run(resources, {"name": "wait", "type": "Validation", "typeProperties": {
            "dataset": ref("DS_folder", "somecontainer", ""), "timeout": "0.00:00:05", "sleep": 1}})
    error = result.activity("wait").error
    assert result.status is Status.FAILED and error is not None
    assert error.error_code != "ValidationTimedOut" and "does not exist" not in error.message
    assert "authenticat" in error.message.lower()


def test_validation_minimum_size(blob_resources: LocalResources, container: ContainerClient) -> None:
    container.upload_blob("day/_manifest.json", b"")
    small = run(blob_resources, validation(container.container_name, "day", "_manifest.json", minimumSize=1))
    assert small.status is Status.FAILED
    assert "smaller than 1 bytes" in small.activity("wait").error.message


def test_lookup_reads_a_pretty_printed_json_document(blob_resources: LocalResources,
                                                     container: ContainerClient) -> None:
    manifest = {"run_id": "20260101T000000Z-0a1b2c3d", "record_count": 3, "files": [{"path": "x"}]}
    container.upload_blob("day/_manifest.json", json.dumps(manifest, indent=2).encode())
    result = run(blob_resources, {"name": "read", "type": "Lookup", "typeProperties": {
        "source": {"type": "JsonSource", "storeSettings": {"type": "AzureBlobStorageReadSettings",
                                                           "recursive": False}},
        "dataset": ref("DS_json", container.container_name, "day", "_manifest.json"), "firstRowOnly": True}})
    assert result.activity("read").output == {"firstRow": manifest}


def test_lookup_all_rows_of_csv(blob_resources: LocalResources, container: ContainerClient) -> None:
    text = 'company_id,company_name\nc1,"Müller, Söhne & ""Co"""\nc2,\n'
    container.upload_blob("crm/companies.csv", ("\ufeff" + text).encode())
    result = run(blob_resources, {"name": "read", "type": "Lookup", "typeProperties": {
        "source": {"type": "DelimitedTextSource"}, "firstRowOnly": False,
        "dataset": ref("DS_csv", container.container_name, "crm", "companies.csv")}})
    assert result.activity("read").output == {"count": 2, "value": [
        {"company_id": "c1", "company_name": 'Müller, Söhne & "Co"'}, {"company_id": "c2", "company_name": None}]}


def test_get_metadata_exists_and_child_items(blob_resources: LocalResources, container: ContainerClient) -> None:
    container.upload_blob("d/sub/a.json", b"{}")
    container.upload_blob("d/b.json", b"{}")
    name = container.container_name
    result = run(
        blob_resources,
        {"name": "there", "type": "GetMetadata", "typeProperties": {
            "dataset": ref("DS_json", name, "d", "b.json"), "fieldList": ["exists", "size", "itemName"]}},
        {"name": "missing", "type": "GetMetadata", "typeProperties": {
            "dataset": ref("DS_json", name, "d", "nope.json"), "fieldList": ["exists", "size"]}},
        {"name": "folder", "type": "GetMetadata", "typeProperties": {
            "dataset": ref("DS_folder", name, "d"), "fieldList": ["childItems", "itemType"]}},
        {"name": "strict", "type": "GetMetadata", "typeProperties": {
            "dataset": ref("DS_json", name, "d", "nope.json"), "fieldList": ["size"]}},
    )
    assert result.activity("there").output == {"exists": True, "size": 2, "itemName": "b.json"}
    assert result.activity("missing").output == {"exists": False}
    assert result.activity("folder").output == {
        "childItems": [{"name": "b.json", "type": "File"}, {"name": "sub", "type": "Folder"}], "itemType": "Folder"}
    assert result.activity("strict").status is Status.FAILED
    assert "d/nope.json does not exist" in result.activity("strict").error.message


def test_get_metadata_rejects_unsupported_fields(blob_resources: LocalResources, container: ContainerClient) -> None:
    result = run(blob_resources, {"name": "meta", "type": "GetMetadata", "typeProperties": {
        "dataset": ref("DS_json", container.container_name, "d", "b.json"), "fieldList": ["exists", "structure"]}})
    assert result.status is Status.FAILED
    assert "structure" in result.activity("meta").error.message


# ------------------------------------------------------------------------- listing and parsing


def test_wildcards_follow_adf_rules() -> None:
    assert datasets.wildcard_regex("part-*.jsonl.gz").fullmatch("part-00001.jsonl.gz")
    assert not datasets.wildcard_regex("part-*.jsonl.gz").fullmatch("rejected-00000.jsonl.gz")
    assert datasets.wildcard_regex("file?.csv").fullmatch("file.csv")  # ? is zero or one character
    assert datasets.wildcard_regex("file?.csv").fullmatch("file1.csv")
    assert not datasets.wildcard_regex("file?.csv").fullmatch("file12.csv")
    assert datasets.wildcard_regex("a^*b").fullmatch("a*b") and not datasets.wildcard_regex("a^*b").fullmatch("axb")


def test_list_files_respects_recursive(container: ContainerClient) -> None:
    for path in ("run/part-00000.jsonl.gz", "run/rejected-00000.jsonl.gz", "run/nested/part-00009.jsonl.gz"):
        container.upload_blob(path, b"x")
    location = datasets.BlobLocation(container.container_name, "run", "")
    flat = datasets.list_files(container, location, {"recursive": False, "wildcardFileName": "part-*.jsonl.gz"}, "t")
    assert [f.path for f in flat] == ["run/part-00000.jsonl.gz"]
    deep = datasets.list_files(container, location, {"recursive": True, "wildcardFileName": "part-*.jsonl.gz"}, "t")
    assert [f.path for f in deep] == ["run/nested/part-00009.jsonl.gz", "run/part-00000.jsonl.gz"]
    with pytest.raises(ActivityFailed, match="no file"):
        datasets.list_files(container, location, {"wildcardFileName": "*.csv"}, "t")
    with pytest.raises(ActivityFailed, match="prefix"):
        datasets.list_files(container, location, {"prefix": "x"}, "t")


def _json_dataset(**props: Any) -> datasets.ResolvedDataset:
    return datasets.ResolvedDataset(
        name="DS", type="Json", linked_service="LS", properties=props, location=datasets.BlobLocation("c", "f", "")
    )


def test_json_lines_errors_name_file_and_line() -> None:
    data = gzip.compress(b'{"a": 1}\n\n{"a": 2\n')
    rows = datasets.read_rows(_json_dataset(compression={"type": "gzip"}), data, "f/part-00000.jsonl.gz")
    assert next(rows) == (1, {"a": 1})
    with pytest.raises(ActivityFailed, match=r"f/part-00000\.jsonl\.gz:3: not valid JSON"):
        next(rows)


def test_garbage_instead_of_gzip_names_the_file() -> None:
    with pytest.raises(ActivityFailed, match=r"f/part\.jsonl\.gz: not valid gzip data"):
        list(datasets.read_rows(_json_dataset(compression={"type": "gzip"}), b"garbage", "f/part.jsonl.gz"))


def test_csv_with_a_wrong_column_count_names_the_line() -> None:
    dataset = datasets.ResolvedDataset(
        name="DS",
        type="DelimitedText",
        linked_service="LS",
        properties={"firstRowAsHeader": True, "escapeChar": '"'},
        location=datasets.BlobLocation("c", "f", "x.csv"),
    )
    with pytest.raises(ActivityFailed, match=r"x\.csv:3: expected 2 columns, got 3"):
        list(datasets.read_rows(dataset, b"a,b\n1,2\n1,2,3\n", "x.csv"))
