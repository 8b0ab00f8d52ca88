"""Datasets at run time: a DatasetReference resolved to its location, and its blobs listed and parsed.

Implements the parts of ADF's Blob connector and Json/DelimitedText formats the factory uses:
- location `{container, folderPath, fileName}`; copy/lookup `storeSettings` with `recursive`,
  `wildcardFolderPath` and `wildcardFileName` (`*` any characters, `?` zero or one, `^` escapes);
- Json: one document (an object, or an array of objects) or JSON Lines (`setOfObjects`), optionally
  gzip-compressed (`compression.type`);
- DelimitedText: `columnDelimiter`, `quoteChar`, `escapeChar` (ADF's default is a backslash; set it to
  the quote character for RFC 4180 doubled quotes), `firstRowAsHeader`, `nullValue`, `encodingName`,
  `compressionCodec`, `skipLineCount`.
Every parse error names the blob and line.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from company_activity.ingest.bronze import DEFAULT_PART_MAX_BYTES
from company_activity.ingest.gzip_lines import GZIP_WBITS, CorruptGzip, DecompressionLimitExceeded, inflate_bounded
from company_activity_local.pipeline.results import ActivityFailed, UnsupportedFeature

# The copy holds one file decompressed in memory: at most twice the largest part the ingestion writes.
MAX_DECOMPRESSED_BYTES = 2 * DEFAULT_PART_MAX_BYTES

BLOB_LOCATION = "AzureBlobStorageLocation"
FILE_FORMATS = {"Json", "DelimitedText"}
TABLE_TYPES = {"AzureSqlTable", "SqlServerTable"}
_READ_SETTINGS_KEYS = {"type", "recursive", "wildcardFolderPath", "wildcardFileName", "enablePartitionDiscovery",
                       "maxConcurrentConnections", "disableMetricsCollection"}


@dataclass(frozen=True)
class BlobLocation:
    container: str
    folder_path: str
    file_name: str

    @property
    def path(self) -> str:
        return join_path(self.folder_path, self.file_name)


@dataclass(frozen=True)
class ResolvedDataset:
    name: str
    type: str
    linked_service: str
    properties: dict[str, Any] = field(repr=False)  # typeProperties, evaluated
    location: BlobLocation | None = None
    table: tuple[str, str] | None = None  # (schema, table) of a SQL table dataset

    def describe(self) -> str:
        if self.location is not None:
            return f"{self.name} ({self.location.container}/{self.location.path})"
        if self.table is not None:
            return f"{self.name} ({self.table[0]}.{self.table[1]})"
        return self.name

    @property
    def compression(self) -> str | None:
        if self.type == "Json":
            codec = (self.properties.get("compression") or {}).get("type")
        else:
            codec = self.properties.get("compressionCodec")
        if codec in (None, "", "None", "none"):
            return None
        return str(codec).lower()


def evaluate_tree(value: Any, evaluate: Any, what: str) -> Any:
    """Evaluate every expression inside a JSON value (strings and `{"type": "Expression"}` objects)."""
    if isinstance(value, dict):
        if value.get("type") == "Expression" and set(value) <= {"type", "value"}:
            return evaluate(value, what)
        return {k: evaluate_tree(v, evaluate, f"{what}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate_tree(v, evaluate, f"{what}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        return evaluate(value, what)
    return value


def resolve_dataset(factory: Any, reference: Mapping[str, Any], evaluate: Any, where: str) -> ResolvedDataset:
    """`evaluate(value, what, dataset_parameters=None)` evaluates in the activity's context."""
    name = str(reference.get("referenceName"))
    dataset = factory.datasets.get(name)
    if dataset is None:
        raise ActivityFailed(f"{where}: dataset {name!r} is not defined in the factory", "UnknownDataset",
                             retryable=False)
    props = dataset.get("properties", dataset)
    declared = props.get("parameters") or {}
    given = {k: evaluate(v, f"{where}.parameters.{k}") for k, v in (reference.get("parameters") or {}).items()}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ActivityFailed(f"{where}: dataset {name!r} has no parameter(s) {unknown}", retryable=False)
    bound: dict[str, Any] = {}
    for pname, spec in declared.items():
        if pname in given:
            bound[pname] = given[pname]
        elif "defaultValue" in (spec or {}):
            bound[pname] = spec["defaultValue"]
        else:
            raise ActivityFailed(f"{where}: dataset {name!r} needs parameter {pname!r}", retryable=False)

    def in_dataset(value: Any, what: str) -> Any:
        return evaluate(value, f"dataset {name}.{what}", dataset_parameters=bound)

    kind = str(props.get("type"))
    type_props = evaluate_tree(props.get("typeProperties") or {}, in_dataset, "typeProperties")
    linked = str((props.get("linkedServiceName") or {}).get("referenceName"))
    if kind in FILE_FORMATS:
        loc = type_props.get("location") or {}
        if loc.get("type") != BLOB_LOCATION:
            raise UnsupportedFeature(f"dataset {name!r}: location type {loc.get('type')!r} (supported: "
                                     f"{BLOB_LOCATION})")
        location = BlobLocation(str(loc.get("container") or ""), str(loc.get("folderPath") or "").strip("/"),
                                str(loc.get("fileName") or ""))
        if not location.container:
            raise ActivityFailed(f"dataset {name!r}: location.container is empty", retryable=False)
        return ResolvedDataset(name, kind, linked, type_props, location=location)
    if kind in TABLE_TYPES:
        schema = type_props.get("schema") or "dbo"
        table = type_props.get("table") or type_props.get("tableName")
        if not table:
            raise ActivityFailed(f"dataset {name!r}: no table", retryable=False)
        return ResolvedDataset(name, kind, linked, type_props, table=(str(schema), str(table)))
    raise UnsupportedFeature(f"dataset {name!r} has type {kind!r} (supported: {sorted(FILE_FORMATS | TABLE_TYPES)})")


# ------------------------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class BlobFile:
    path: str
    size: int
    last_modified: datetime | None = None
    content_md5: bytes | None = None


def join_path(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """ADF wildcards: `*` any run of characters, `?` zero or one character, `^` escapes the next one."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "^" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append("[^/]*" if ch == "*" else "[^/]?" if ch == "?" else re.escape(ch))
        i += 1
    return re.compile("".join(out))


def _literal_prefix(pattern: str) -> str:
    cut = min([i for i in (pattern.find("*"), pattern.find("?"), pattern.find("^")) if i >= 0], default=len(pattern))
    prefix = pattern[:cut]
    return prefix[: prefix.rfind("/") + 1] if cut < len(pattern) else prefix


def get_blob(container: ContainerClient, path: str) -> BlobFile | None:
    try:
        props = container.get_blob_client(path).get_blob_properties()
    except ResourceNotFoundError:
        return None
    md5 = props.content_settings.content_md5 if props.content_settings else None
    return BlobFile(path, int(props.size), props.last_modified, bytes(md5) if md5 else None)


def folder_exists(container: ContainerClient, folder: str) -> bool:
    prefix = join_path(folder) + "/" if folder.strip("/") else ""
    try:
        return any(True for _ in container.list_blobs(name_starts_with=prefix, results_per_page=1))
    except ResourceNotFoundError:
        return False


def list_files(container: ContainerClient, location: BlobLocation, store: Mapping[str, Any] | None,
               where: str) -> list[BlobFile]:
    """The files a Copy or Lookup reads, in name order, per the dataset location and storeSettings."""
    store = store or {}
    unknown = sorted(set(store) - _READ_SETTINGS_KEYS)
    if unknown:
        raise UnsupportedFeature(f"{where}: storeSettings properties not implemented locally: {unknown}")
    if store.get("type") not in (None, "AzureBlobStorageReadSettings"):
        raise UnsupportedFeature(f"{where}: storeSettings.type {store.get('type')!r}")
    recursive = bool(store.get("recursive", True))
    folder_pattern, file_pattern = store.get("wildcardFolderPath"), store.get("wildcardFileName")
    try:
        if folder_pattern is None and file_pattern is None:
            if location.file_name:
                found = get_blob(container, location.path)
                if found is None:
                    raise ActivityFailed(f"{where}: blob {location.container}/{location.path} does not exist",
                                         "UserErrorSourceBlobNotExists")
                return [found]
            folder_pattern, file_pattern = _escape(location.folder_path), "*"
        folder_pattern = str(folder_pattern if folder_pattern is not None else _escape(location.folder_path)).strip("/")
        file_pattern = str(file_pattern if file_pattern is not None else (_escape(location.file_name) or "*"))
        folder_re, file_re = wildcard_regex(folder_pattern), wildcard_regex(file_pattern)
        files = []
        for blob in container.list_blobs(name_starts_with=_literal_prefix(folder_pattern + "/")):
            folder, _, name = blob.name.rpartition("/")
            if not file_re.fullmatch(name) or not _folder_matches(folder_re, folder, recursive):
                continue
            md5 = blob.content_settings.content_md5 if blob.content_settings else None
            files.append(BlobFile(blob.name, int(blob.size), blob.last_modified, bytes(md5) if md5 else None))
    except ResourceNotFoundError:
        raise ActivityFailed(f"{where}: container {location.container!r} does not exist",
                             "UserErrorSourceBlobNotExists") from None
    if not files:
        raise ActivityFailed(
            f"{where}: no file in {location.container} matches folder {folder_pattern!r} file {file_pattern!r}",
            "UserErrorSourceBlobNotExists",
        )
    return sorted(files, key=lambda f: f.path)


def _escape(literal: str) -> str:
    return re.sub(r"([*?^])", r"^\1", literal)


def _folder_matches(folder_re: re.Pattern[str], folder: str, recursive: bool) -> bool:
    if folder_re.fullmatch(folder):
        return True
    if not recursive:
        return False
    parts = folder.split("/")
    return any(folder_re.fullmatch("/".join(parts[:i])) for i in range(len(parts)))


def download(container: ContainerClient, path: str) -> bytes:
    try:
        return container.get_blob_client(path).download_blob().readall()
    except ResourceNotFoundError:
        raise ActivityFailed(f"blob {container.container_name}/{path} disappeared while reading",
                             "UserErrorSourceBlobNotExists") from None


# ------------------------------------------------------------------------------------------- parsing


def read_rows(dataset: ResolvedDataset, data: bytes, path: str,
              format_settings: Mapping[str, Any] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of one file. Json rows are objects; DelimitedText values are strings or None."""
    text = _decode(dataset, _decompress(dataset, data, path), path)
    if dataset.type == "Json":
        yield from _json_rows(text, path)
    elif dataset.type == "DelimitedText":
        yield from _csv_rows(dataset.properties, text, path, format_settings or {})
    else:
        raise UnsupportedFeature(f"dataset {dataset.name!r}: reading {dataset.type} files")


def _decompress(dataset: ResolvedDataset, data: bytes, path: str) -> bytes:
    codec = dataset.compression
    if codec is None:
        return data
    wbits = {"gzip": GZIP_WBITS, "deflate": -zlib.MAX_WBITS, "zlibdeflate": zlib.MAX_WBITS}.get(codec)
    if wbits is not None:
        try:
            return inflate_bounded(data, wbits=wbits, where=path, max_output_bytes=MAX_DECOMPRESSED_BYTES)
        except CorruptGzip as exc:
            raise ActivityFailed(f"{path}: not valid {codec} data ({exc})", "UserErrorInvalidCompressedData") from None
        except DecompressionLimitExceeded as exc:
            raise ActivityFailed(str(exc), "UserErrorInvalidCompressedData") from None
    raise UnsupportedFeature(f"dataset {dataset.name!r}: compression {codec!r} (supported: gzip, deflate, "
                             "zlibdeflate)")


def _decode(dataset: ResolvedDataset, data: bytes, path: str) -> str:
    encoding = str(dataset.properties.get("encodingName") or "UTF-8")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise UnsupportedFeature(f"dataset {dataset.name!r}: encodingName {encoding!r}") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ActivityFailed(f"{path}:{line}: not valid {encoding} (byte offset {exc.start})",
                             "UserErrorInvalidEncoding") from None
    return text.removeprefix("\ufeff")


def _json_rows(text: str, path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    if not text.strip():
        return
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None  # JSON Lines (several values), or invalid: the line-by-line pass says which line
    else:
        rows = whole if isinstance(whole, list) else [whole]
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ActivityFailed(f"{path}: item {i} is not a JSON object: {str(row)[:80]!r}",
                                     "UserErrorInvalidJson")
            yield 1, row
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ActivityFailed(f"{path}:{number}: not valid JSON ({exc.args[0]}): {line[:80]!r}",
                                 "UserErrorInvalidJson") from None
        if not isinstance(row, dict):
            raise ActivityFailed(f"{path}:{number}: not a JSON object: {line[:80]!r}", "UserErrorInvalidJson")
        yield number, row


def _csv_rows(props: Mapping[str, Any], text: str, path: str,
              format_settings: Mapping[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    delimiter = str(props.get("columnDelimiter", ","))
    quote = str(props.get("quoteChar", '"'))
    escape = str(props.get("escapeChar", "\\"))
    header = bool(props.get("firstRowAsHeader", False))
    null_value = str(props.get("nullValue", ""))
    skip = int(format_settings.get("skipLineCount") or 0)
    if len(delimiter) != 1 or len(quote) > 1 or len(escape) > 1:
        raise UnsupportedFeature(f"{path}: only single-character columnDelimiter/quoteChar/escapeChar are "
                                 f"supported locally (got {delimiter!r}, {quote!r}, {escape!r})")
    options: dict[str, Any] = {"delimiter": delimiter, "strict": True}
    if not quote:
        options.update(quoting=csv.QUOTE_NONE, escapechar=escape or None)
    elif escape == quote:
        options.update(quotechar=quote, doublequote=True)
    else:
        options.update(quotechar=quote, doublequote=False, escapechar=escape or None)
    stream = io.StringIO(text, newline="")
    for _ in range(skip):
        stream.readline()
    reader = csv.reader(stream, **options)
    names: list[str] | None = None
    try:
        for values in reader:
            line = reader.line_num + skip
            if not values or values == [""]:
                continue
            if names is None:
                if header:
                    names = values
                    if len(set(names)) != len(names):
                        raise ActivityFailed(f"{path}:{line}: duplicate column names in the header {names}",
                                             "UserErrorInvalidDelimitedText")
                    continue
                names = [f"Prop_{i}" for i in range(len(values))]
            if len(values) != len(names):
                raise ActivityFailed(f"{path}:{line}: expected {len(names)} columns, got {len(values)}",
                                     "UserErrorInvalidDelimitedText")
            yield line, {n: (None if v == null_value else v) for n, v in zip(names, values, strict=True)}
    except csv.Error as exc:
        raise ActivityFailed(f"{path}:{reader.line_num + skip}: malformed delimited text ({exc})",
                             "UserErrorInvalidDelimitedText") from None
