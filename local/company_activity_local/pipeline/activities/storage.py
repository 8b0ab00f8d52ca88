"""Activities that look at blobs (and SQL for Lookup): Validation, Lookup, GetMetadata."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from company_activity_local.pipeline import datasets
from company_activity_local.pipeline.context import ActivityContext, timespan_seconds
from company_activity_local.pipeline.results import ActivityFailed, UnsupportedFeature

DEFAULT_VALIDATION_TIMEOUT = "7.00:00:00"
DEFAULT_VALIDATION_SLEEP_S = 10
LOOKUP_ROW_LIMIT = 5000  # ADF's Lookup returns at most 5000 rows
FILE_SOURCES = {"JsonSource", "DelimitedTextSource"}
SQL_SOURCES = {"AzureSqlSource", "SqlServerSource", "SqlSource"}


def resolve(ctx: ActivityContext, key: str = "dataset") -> datasets.ResolvedDataset:
    reference = ctx.type_properties.get(key)
    if not isinstance(reference, Mapping):
        raise ActivityFailed(f"{ctx.type} activity '{ctx.name}' has no {key} reference", retryable=False)
    return resolve_reference(ctx, reference, f"{ctx.name}.{key}")


def resolve_reference(ctx: ActivityContext, reference: Mapping[str, Any], where: str) -> datasets.ResolvedDataset:
    def evaluate(value: Any, what: str, *, dataset_parameters: Mapping[str, Any] | None = None) -> Any:
        return ctx.evaluate(value, what, dataset_parameters=dataset_parameters)

    return datasets.resolve_dataset(ctx.factory, reference, evaluate, where)


def container_of(ctx: ActivityContext, dataset: datasets.ResolvedDataset) -> Any:
    assert dataset.location is not None
    return ctx.resources.container(ctx.factory, dataset.linked_service, dataset.location.container)


def _blob_dataset(ctx: ActivityContext, dataset: datasets.ResolvedDataset) -> datasets.BlobLocation:
    if dataset.location is None:
        raise UnsupportedFeature(f"{ctx.type} activity '{ctx.name}': dataset {dataset.name!r} is not a blob dataset")
    return dataset.location


# ---------------------------------------------------------------------------------------- Validation


def run_validation(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, ("dataset", "timeout", "sleep", "minimumSize", "childItems"),
                       "typeProperties")
    dataset = resolve(ctx)
    location = _blob_dataset(ctx, dataset)
    timeout = timespan_seconds(ctx.prop("timeout", DEFAULT_VALIDATION_TIMEOUT), f"Validation '{ctx.name}' timeout")
    sleep = float(ctx.prop("sleep", DEFAULT_VALIDATION_SLEEP_S))
    minimum = int(ctx.prop("minimumSize", 0))
    child_items = ctx.prop("childItems")
    if sleep <= 0:
        raise ActivityFailed(f"Validation '{ctx.name}': sleep must be > 0 seconds, got {sleep}", retryable=False)
    container = container_of(ctx, dataset)
    deadline = time.monotonic() + timeout
    checks = 0
    while True:
        checks += 1
        found = _validated(container, location, minimum, child_items)
        if found is not None:
            return {"path": f"{location.container}/{location.path}", "checks": checks, **found}
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ActivityFailed(
                f"Validation '{ctx.name}' timed out after {timeout:g}s ({checks} checks): "
                f"{location.container}/{location.path} {_expectation(location, minimum, child_items)}",
                "ValidationTimedOut",
            )
        if checks == 1:
            ctx.report_wait("poll", min(sleep, remaining),
                            f"{location.container}/{location.path} {_expectation(location, minimum, child_items)}; "
                            f"checking every {sleep:g}s for up to {timeout:g}s")
        ctx.sleep(min(sleep, remaining))


def _validated(container: Any, location: datasets.BlobLocation, minimum: int,
               child_items: bool | None) -> dict[str, Any] | None:
    if location.file_name:
        blob = datasets.get_blob(container, location.path)
        if blob is None or blob.size < minimum:
            return None
        return {"size": blob.size}
    if location.folder_path:
        has_items = datasets.folder_exists(container, location.folder_path)
        exists = has_items  # a blob "folder" exists only while it holds blobs
    else:
        exists = _container_exists(container)
        has_items = exists and datasets.folder_exists(container, "")
    ok = has_items if child_items is True else (exists and not has_items) if child_items is False else exists
    return {"childItems": has_items} if ok else None


def _container_exists(container: Any) -> bool:
    """The SDK answers False for a missing container; a missing account is "not there yet" too. Anything
    else (a refused credential, no connection) fails the activity instead of polling until its timeout."""
    try:
        return bool(container.exists())
    except ResourceNotFoundError:
        return False


def _expectation(location: datasets.BlobLocation, minimum: int, child_items: bool | None) -> str:
    if location.file_name:
        return f"does not exist or is smaller than {minimum} bytes" if minimum else "does not exist"
    return {True: "has no items", False: "is not empty", None: "does not exist"}[child_items]


# -------------------------------------------------------------------------------------------- Lookup


def run_lookup(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, ("source", "dataset", "firstRowOnly"), "typeProperties")
    first_only = ctx.prop("firstRowOnly", True)
    if not isinstance(first_only, bool):
        raise ActivityFailed(f"Lookup '{ctx.name}': firstRowOnly must be a boolean, got {first_only!r}",
                             retryable=False)
    dataset = resolve(ctx)
    source = datasets.evaluate_tree(ctx.type_properties.get("source") or {},
                                    lambda v, what: ctx.evaluate(v, what), "typeProperties.source")
    kind = source.get("type")
    if kind in FILE_SOURCES:
        rows = _file_rows(ctx, dataset, source, limit=1 if first_only else LOOKUP_ROW_LIMIT)
    elif kind in SQL_SOURCES:
        rows = _sql_rows(ctx, dataset, source)[: 1 if first_only else LOOKUP_ROW_LIMIT]
    else:
        raise UnsupportedFeature(f"Lookup '{ctx.name}': source type {kind!r} (supported: "
                                 f"{sorted(FILE_SOURCES | SQL_SOURCES)})")
    if first_only:
        return {"firstRow": rows[0]} if rows else {}
    return {"count": len(rows), "value": rows}


def _file_rows(ctx: ActivityContext, dataset: datasets.ResolvedDataset, source: Mapping[str, Any],
               limit: int) -> list[dict[str, Any]]:
    ctx.reject_unknown(source, ("type", "storeSettings", "formatSettings"), "source")
    location = _blob_dataset(ctx, dataset)
    container = container_of(ctx, dataset)
    rows: list[dict[str, Any]] = []
    for blob in datasets.list_files(container, location, source.get("storeSettings"), f"Lookup '{ctx.name}'"):
        ctx.check_deadline()
        data = datasets.download(container, blob.path)
        for _, row in datasets.read_rows(dataset, data, blob.path, source.get("formatSettings")):
            rows.append(row)
            if len(rows) >= limit:
                return rows
    return rows


def _sql_rows(ctx: ActivityContext, dataset: datasets.ResolvedDataset,
              source: Mapping[str, Any]) -> list[dict[str, Any]]:
    ctx.reject_unknown(source, ("type", "sqlReaderQuery", "queryTimeout", "partitionOption"), "source")
    if source.get("partitionOption") not in (None, "None"):
        raise UnsupportedFeature(f"Lookup '{ctx.name}': partitionOption {source.get('partitionOption')!r}")
    query = source.get("sqlReaderQuery")
    if not query:
        if dataset.table is None:
            raise ActivityFailed(f"Lookup '{ctx.name}': no sqlReaderQuery and no table", retryable=False)
        query = f"SELECT * FROM [{dataset.table[0]}].[{dataset.table[1]}]"
    warehouse = ctx.resources.warehouse_for(ctx.factory, dataset.linked_service)
    return [dict(row) for row in warehouse.query(str(query))]


# --------------------------------------------------------------------------------------- GetMetadata

_FILE_FIELDS = {"exists", "itemName", "itemType", "size", "lastModified", "contentMD5"}
_FOLDER_FIELDS = {"exists", "itemName", "itemType", "lastModified", "childItems"}


def run_get_metadata(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, ("dataset", "fieldList", "storeSettings", "formatSettings"),
                       "typeProperties")
    dataset = resolve(ctx)
    location = _blob_dataset(ctx, dataset)
    fields = [str(f) for f in ctx.prop("fieldList", [])]
    is_file = bool(location.file_name)
    allowed = _FILE_FIELDS if is_file else _FOLDER_FIELDS
    unknown = [f for f in fields if f not in allowed]
    if unknown:
        raise UnsupportedFeature(f"GetMetadata '{ctx.name}': fieldList {unknown} not supported locally for a "
                                 f"{'file' if is_file else 'folder'} (supported: {sorted(allowed)})")
    container = container_of(ctx, dataset)
    where = f"{location.container}/{location.path}"
    if is_file:
        blob = datasets.get_blob(container, location.path)
        exists = blob is not None
    else:
        blob = None
        exists = datasets.folder_exists(container, location.folder_path)
    if not exists and "exists" not in fields:
        raise ActivityFailed(f"GetMetadata '{ctx.name}': {where} does not exist", "UserErrorSourceBlobNotExists")
    output: dict[str, Any] = {}
    for name in fields:
        if name == "exists":
            output["exists"] = exists
        elif not exists:
            continue  # ADF returns only `exists` for a missing item
        elif name == "itemName":
            output["itemName"] = location.file_name or location.folder_path.rsplit("/", 1)[-1]
        elif name == "itemType":
            output["itemType"] = "File" if is_file else "Folder"
        elif name == "size" and blob is not None:
            output["size"] = blob.size
        elif name == "lastModified" and blob is not None:
            output["lastModified"] = blob.last_modified.isoformat() if blob.last_modified else None
        elif name == "contentMD5" and blob is not None:
            output["contentMD5"] = base64.b64encode(blob.content_md5).decode() if blob.content_md5 else None
        elif name == "childItems":
            output["childItems"] = _child_items(container, location.folder_path)
    return output


def _child_items(container: Any, folder: str) -> list[dict[str, str]]:
    prefix = datasets.join_path(folder) + "/" if folder else ""
    items = []
    for item in container.walk_blobs(name_starts_with=prefix, delimiter="/"):
        name = item.name[len(prefix):].rstrip("/")
        items.append({"name": name, "type": "Folder" if item.name.endswith("/") else "File"})
    return sorted(items, key=lambda i: i["name"])
