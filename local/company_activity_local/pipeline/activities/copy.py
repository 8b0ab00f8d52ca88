"""The Copy activity: JSON (JSON Lines, gzip) or delimited-text blobs into a SQL table of the warehouse.

Order of work: list the source files (wildcards resolved against Azurite), read and convert every row
to the sink column types (any bad file, line or value fails the copy and names file:line, column and
value), then run the sink's `preCopyScript` through the warehouse's T-SQL translator and insert.
ADF writes while it reads, so a copy failing half way can leave part of its rows behind; converting
everything first means a failed local copy leaves the sink as it was. Both end with the activity
Failed, which is what the pipeline's control flow reacts to.

The copy does not verify the bronze manifest's sha256 (ADF does not either); verification is the
job of the ingestion's reader.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from company_activity_local.pipeline import datasets
from company_activity_local.pipeline.activities.storage import container_of, resolve_reference
from company_activity_local.pipeline.context import ActivityContext
from company_activity_local.pipeline.conversion import ConversionError, DateFormat, SqlType, convert
from company_activity_local.pipeline.results import ActivityFailed, UnsupportedFeature

if TYPE_CHECKING:
    from company_activity_local.warehouse.engine import Warehouse

FILE_SOURCES = {"JsonSource", "DelimitedTextSource"}
SQL_SINKS = {"AzureSqlSink", "SqlServerSink", "SqlSink"}
INSERT_BATCH = 10_000
# Performance knobs with no meaning for a local, single-threaded copy.
_IGNORED_COPY_KEYS = {"parallelCopies", "dataIntegrationUnits", "enableStaging", "validateDataConsistency"}
_SINK_KEYS = {"type", "preCopyScript", "writeBehavior", "tableOption", "writeBatchSize", "writeBatchTimeout",
              "sqlWriterUseTableLock", "disableMetricsCollection", "maxConcurrentConnections"}
_SOURCE_KEYS = {"type", "storeSettings", "formatSettings", "additionalColumns"}
_TRANSLATOR_KEYS = {"type", "mappings", "typeConversion", "typeConversionSettings"}
_SEGMENT = re.compile(r"\['([^']*)'\]|\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class ColumnMapping:
    source: str  # description, for messages
    path: tuple[str, ...]  # keys from the record's root (JSON) or the column name (one element)
    sink: str
    sql_type: SqlType
    date_format: DateFormat | None = None  # typeConversionSettings.dateFormat, for a DATE sink column


def run_copy(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    started = time.monotonic()
    props = ctx.type_properties
    ctx.reject_unknown(props, {"source", "sink", "translator", "enableSkipIncompatibleRow", *_IGNORED_COPY_KEYS},
                       "typeProperties")
    if ctx.prop("enableStaging", False):
        raise UnsupportedFeature(f"Copy '{ctx.name}': enableStaging (staged copy) is not implemented locally")
    if ctx.prop("enableSkipIncompatibleRow", False):
        raise UnsupportedFeature(f"Copy '{ctx.name}': enableSkipIncompatibleRow=true is not implemented locally "
                                 "(incompatible rows always fail the copy)")

    def evaluated(key: str) -> dict[str, Any]:
        value: dict[str, Any] = datasets.evaluate_tree(props.get(key) or {}, lambda v, what: ctx.evaluate(v, what),
                                                       f"typeProperties.{key}")
        return value

    source, sink, translator = evaluated("source"), evaluated("sink"), evaluated("translator")
    ctx.reject_unknown(source, _SOURCE_KEYS, "source")
    ctx.reject_unknown(sink, _SINK_KEYS, "sink")
    if source.get("type") not in FILE_SOURCES:
        raise UnsupportedFeature(f"Copy '{ctx.name}': source type {source.get('type')!r} (supported: "
                                 f"{sorted(FILE_SOURCES)})")
    if sink.get("type") not in SQL_SINKS:
        raise UnsupportedFeature(f"Copy '{ctx.name}': sink type {sink.get('type')!r} (supported: {sorted(SQL_SINKS)})")
    if str(sink.get("writeBehavior", "insert")).lower() != "insert":
        raise UnsupportedFeature(f"Copy '{ctx.name}': sink.writeBehavior {sink.get('writeBehavior')!r} "
                                 "(only insert is implemented locally)")
    if str(sink.get("tableOption", "none")).lower() != "none":
        raise UnsupportedFeature(f"Copy '{ctx.name}': sink.tableOption {sink.get('tableOption')!r}")

    source_ds = _single_dataset(ctx, activity, "inputs")
    sink_ds = _single_dataset(ctx, activity, "outputs")
    if source_ds.location is None:
        raise UnsupportedFeature(f"Copy '{ctx.name}': input dataset {source_ds.name!r} is not a blob dataset")
    if sink_ds.table is None:
        raise UnsupportedFeature(f"Copy '{ctx.name}': output dataset {sink_ds.name!r} is not a SQL table")
    warehouse = ctx.resources.warehouse_for(ctx.factory, sink_ds.linked_service)
    table = f"{sink_ds.table[0]}.{sink_ds.table[1]}"
    columns = sink_columns(warehouse, *sink_ds.table)
    mappings = _mappings(ctx, translator, columns, table)
    extra = _additional_columns(ctx, source)

    container = container_of(ctx, source_ds)
    files = datasets.list_files(container, source_ds.location, source.get("storeSettings"), f"Copy '{ctx.name}'")
    rows: list[tuple[Any, ...]] = []
    data_read = 0
    for blob in files:
        ctx.check_deadline()
        data = datasets.download(container, blob.path)
        data_read += len(data)
        relative = _relative_path(blob.path, source_ds.location.folder_path)
        checked = source_ds.type != "DelimitedText"
        for line, record in datasets.read_rows(source_ds, data, blob.path, source.get("formatSettings")):
            if not checked:
                _require_mapped_columns(ctx, mappings, record, {name for name, _ in extra}, blob.path)
                checked = True
            values = _extra_values(extra, relative, record)
            rows.append(tuple(_converted(m, record, values, blob.path, line) for m in mappings))

    ctx.check_deadline()
    script = sink.get("preCopyScript")
    if script:
        warehouse.execute(str(script))
    names = [m.sink for m in mappings]
    written = 0
    for start in range(0, len(rows), INSERT_BATCH):
        ctx.check_deadline()
        written += _insert(warehouse, table, names, rows[start:start + INSERT_BATCH])
    return {
        "dataRead": data_read,
        "filesRead": len(files),
        "rowsRead": len(rows),
        "rowsCopied": written,
        "copyDuration": round(time.monotonic() - started, 3),
        "sourcePeakConnections": 1,
        "sinkPeakConnections": 1,
        "errors": [],
        "effectiveIntegrationRuntime": "LocalExecutor",
    }


def _insert(warehouse: Warehouse, table: str, names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> int:
    count = warehouse.insert_rows(table, names, rows)
    return int(count) if isinstance(count, int) else len(rows)


def _single_dataset(ctx: ActivityContext, activity: Mapping[str, Any], key: str) -> datasets.ResolvedDataset:
    refs = activity.get(key) or []
    if len(refs) != 1:
        raise ActivityFailed(f"Copy '{ctx.name}' needs exactly one dataset in {key}, has {len(refs)}",
                             retryable=False)
    return resolve_reference(ctx, refs[0], f"{ctx.name}.{key}[0]")


def sink_columns(warehouse: Warehouse, schema: str, table: str) -> dict[str, SqlType]:
    """Column name -> SQL type of the sink table, from the warehouse's INFORMATION_SCHEMA (T-SQL on both
    engines), with the VARCHAR(n) lengths DuckDB keeps only as CHECK constraints (declared_lengths)."""
    rows = warehouse.query(
        "SELECT COLUMN_NAME AS column_name, DATA_TYPE AS data_type, CHARACTER_MAXIMUM_LENGTH AS max_length "
        "FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = @schema AND TABLE_NAME = @table "
        "ORDER BY ORDINAL_POSITION",
        {"schema": schema, "table": table},
    )
    if not rows:
        raise ActivityFailed(f"sink table {schema}.{table} does not exist in the warehouse (deployed?)",
                             "UserErrorSqlTableNotFound", retryable=False)
    columns = {}
    for row in rows:
        type_text = str(row["data_type"])
        length = row["max_length"]
        if length is not None and int(length) > 0 and "(" not in type_text:
            type_text = f"{type_text}({int(length)})"
        try:
            columns[str(row["column_name"])] = SqlType.parse(type_text)
        except ConversionError as exc:
            raise UnsupportedFeature(f"sink {schema}.{table} column {row['column_name']!r}: {exc}") from None
    # DuckDB answers no lengths; its engine reads them from the translator's CHECKs, so an over-long value
    # fails here with file:line, column and value, as SQL Server's declared lengths do.
    declared = getattr(warehouse, "declared_lengths", None)
    for name, (kind, length) in (declared(schema, table) if declared else {}).items():
        current = columns.get(name)
        if current is not None and current.name in ("varchar", "nvarchar") and current.length is None:
            columns[name] = SqlType(kind, length)
    return columns


def _mappings(ctx: ActivityContext, translator: Mapping[str, Any], columns: Mapping[str, SqlType],
              table: str) -> list[ColumnMapping]:
    if not translator:
        raise UnsupportedFeature(f"Copy '{ctx.name}': a copy without a TabularTranslator mapping (ADF's default "
                                 "by-name mapping) is not implemented locally; map the columns explicitly")
    ctx.reject_unknown(translator, _TRANSLATOR_KEYS, "translator")
    if translator.get("type") != "TabularTranslator":
        raise UnsupportedFeature(f"Copy '{ctx.name}': translator type {translator.get('type')!r}")
    date_format, datetime_format_set = _date_format(ctx, translator)
    by_lower = {name.lower(): name for name in columns}
    out = []
    for i, mapping in enumerate(translator.get("mappings") or []):
        src, dst = mapping.get("source") or {}, mapping.get("sink") or {}
        sink_name = by_lower.get(str(dst.get("name", "")).lower())
        if sink_name is None:
            raise ActivityFailed(f"Copy '{ctx.name}': mappings[{i}] sink column {dst.get('name')!r} is not a column "
                                 f"of {table} (columns: {list(columns)})", "UserErrorInvalidColumnMapping",
                                 retryable=False)
        if "path" in src:
            path = _json_path(ctx, str(src["path"]), i)
            description = str(src["path"])
        elif "name" in src:
            path = (str(src["name"]),)
            description = str(src["name"])
        else:
            raise ActivityFailed(f"Copy '{ctx.name}': mappings[{i}] source has neither name nor path",
                                 "UserErrorInvalidColumnMapping", retryable=False)
        sql_type = columns[sink_name]
        if datetime_format_set and sql_type.name == "datetime2":
            raise UnsupportedFeature(f"Copy '{ctx.name}': typeConversionSettings.dateTimeFormat into the "
                                     f"{sql_type} column {sink_name!r} is not implemented locally")
        out.append(ColumnMapping(description, path, sink_name, sql_type,
                                 date_format if sql_type.name == "date" else None))
    if not out:
        raise ActivityFailed(f"Copy '{ctx.name}': the TabularTranslator has no mappings", retryable=False)
    duplicated = {m.sink for m in out if [n.sink for n in out].count(m.sink) > 1}
    if duplicated:
        raise ActivityFailed(f"Copy '{ctx.name}': sink column(s) mapped twice: {sorted(duplicated)}", retryable=False)
    return out


def _date_format(ctx: ActivityContext, translator: Mapping[str, Any]) -> tuple[DateFormat | None, bool]:
    """`typeConversionSettings.dateFormat` (when `typeConversion` is on) and whether `dateTimeFormat` is set too.

    dateFormat is the only format the local copy honours; any other setting that would loosen a conversion
    (truncation, booleans as numbers, other formats, a culture) is refused rather than ignored. A
    `dateTimeFormat` is accepted only equal to the dateFormat: the ADF page documents dateTimeFormat for
    "dates without time zone offset", the REST model and Fabric's page document dateFormat for date values,
    and which of the two ADF applies to a SQL `date` column is not settled, so both must say the same."""
    settings = dict(translator.get("typeConversionSettings") or {})
    text = settings.pop("dateFormat", None)
    datetime_text = settings.pop("dateTimeFormat", None)
    enabled = sorted(k for k, v in settings.items() if v)
    if enabled:
        raise UnsupportedFeature(f"Copy '{ctx.name}': typeConversionSettings {enabled} (the local copy never "
                                 "truncates, never treats booleans as numbers and reads only dateFormat)")
    if datetime_text is not None and datetime_text != text:
        raise UnsupportedFeature(f"Copy '{ctx.name}': typeConversionSettings.dateTimeFormat {datetime_text!r} "
                                 f"differs from dateFormat {text!r} (locally only a dateTimeFormat equal to the "
                                 "dateFormat is accepted)")
    if text is None:
        return None, False
    if translator.get("typeConversion") is not True:
        raise UnsupportedFeature(f"Copy '{ctx.name}': typeConversionSettings.dateFormat applies only with "
                                 "typeConversion: true")
    try:
        return DateFormat.parse(text), datetime_text is not None
    except ConversionError as exc:
        raise UnsupportedFeature(f"Copy '{ctx.name}': typeConversionSettings.dateFormat {text!r}: {exc}") from None


def _json_path(ctx: ActivityContext, text: str, index: int) -> tuple[str, ...]:
    """`$['a']['b']` or `$.a.b` -> ("a", "b")."""
    if not text.startswith("$"):
        raise UnsupportedFeature(f"Copy '{ctx.name}': mappings[{index}] path {text!r} (relative paths need a "
                                 "collectionReference, not implemented locally)")
    keys, pos = [], 1
    while pos < len(text):
        match = _SEGMENT.match(text, pos)
        if not match:
            raise UnsupportedFeature(f"Copy '{ctx.name}': mappings[{index}] path {text!r}: only $['key'] and $.key "
                                     "segments are supported locally")
        keys.append(match.group(1) if match.group(1) is not None else match.group(2))
        pos = match.end()
    if not keys:
        raise ActivityFailed(f"Copy '{ctx.name}': mappings[{index}] path {text!r} selects no field", retryable=False)
    return tuple(keys)


def _additional_columns(ctx: ActivityContext, source: Mapping[str, Any]) -> list[tuple[str, Any]]:
    out = []
    for i, column in enumerate(source.get("additionalColumns") or []):
        if not isinstance(column, Mapping) or "name" not in column:
            raise ActivityFailed(f"Copy '{ctx.name}': additionalColumns[{i}] needs name and value", retryable=False)
        out.append((str(column["name"]), column.get("value")))
    return out


def _require_mapped_columns(ctx: ActivityContext, mappings: Sequence[ColumnMapping], record: Mapping[str, Any],
                            extra: set[str], path: str) -> None:
    """A delimited-text source column named in the mapping must be in the file's header (names are
    case-sensitive); columns the mapping does not name are not copied. ADF fails such a copy rather than
    loading NULLs, and so does this one."""
    missing = [m.source for m in mappings if len(m.path) == 1 and m.path[0] not in record and m.path[0] not in extra]
    if missing:
        raise ActivityFailed(f"Copy '{ctx.name}': {path}: column(s) {missing} specified in the column mapping "
                             f"cannot be found in the source header {sorted(record)}",
                             "UserErrorInvalidColumnMappingColumnNotFound", retryable=False)


def _relative_path(path: str, folder: str) -> str:
    folder = folder.strip("/")
    return path[len(folder) + 1:] if folder and path.startswith(folder + "/") else path


def _extra_values(extra: Sequence[tuple[str, Any]], relative_path: str,
                  record: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in extra:
        if value == "$$FILEPATH":
            values[name] = relative_path
        elif isinstance(value, str) and value.startswith("$$COLUMN:"):
            values[name] = record.get(value[len("$$COLUMN:"):])
        else:
            values[name] = value
    return values


def _converted(mapping: ColumnMapping, record: Mapping[str, Any], extra: Mapping[str, Any], path: str,
               line: int) -> Any:
    if len(mapping.path) == 1 and mapping.path[0] in extra:
        value: Any = extra[mapping.path[0]]
    else:
        value = record
        for key in mapping.path:
            value = value.get(key) if isinstance(value, Mapping) else None
    try:
        return convert(value, mapping.sql_type, mapping.date_format)
    except ConversionError as exc:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise ActivityFailed(
            f"{path}:{line}: column {mapping.sink!r} (source {mapping.source}): cannot convert {shown} to "
            f"{mapping.sql_type}: {exc}",
            "UserErrorTypeConversion",
        ) from None
