"""The CRM input contract: where a snapshot lives, what its CSV must look like, and how it is parsed.

```
<crm container, default "crm">/companies/snapshot_date=YYYY-MM-DD/companies.csv
company_id,company_name,industry_tag,country,last_contact_date      <- header: these names, any order
c000001,Acme Corp,saas,US,2026-11-20
c000002,"Müller, Söhne & Co",,DE,                                   <- empty = NULL
```

The header is read as the Data Factory copy reads it (columns mapped by name): the five names must
each appear once, exactly as spelled; their order is free and further columns are ignored. So the
nightly pipeline and a replay accept the same files (docs/crm.md, "One contract on both paths").
UTF-8 with or without a byte-order mark, RFC 4180 quoting, any line ending. Sizes are checked in
UTF-8 *bytes* because the warehouse stores VARCHAR(n) in a UTF-8 collation, where n counts bytes:
company_id <= 64 (required, no surrounding whitespace), company_name <= 200, industry_tag <= 100,
country <= 100; last_contact_date is YYYY-MM-DD on or after 1900-01-01 (an earlier one is a placeholder such
as 0001-01-01, and one before 0001-01-07 would overflow the merge's 7-day window arithmetic), or empty.

A bad row is never loaded silently: it becomes a `CrmReject` (line, field, value, reason). A company_id
that occurs on several rows rejects every one of them, because nothing says which one is right. A
missing or wrong header, invalid UTF-8 or a broken CSV stream is a `CrmFormatError` for the whole
file. Whether rejects fail a load is the caller's decision; `company-activity transform` fails unless
`--allow-rejects` (a CRM export is small, so one bad row is a data-quality incident worth a stop).

Parsing streams (csv over lines decoded one at a time); only the accepted rows are kept in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from company_activity.errors import InputError
from company_activity.ingest.dates import DateFieldError, parse_iso_date, shown

DEFAULT_CRM_CONTAINER = "crm"
CRM_HEADER = ("company_id", "company_name", "industry_tag", "country", "last_contact_date")
MAX_BYTES = {"company_id": 64, "company_name": 200, "industry_tag": 100, "country": 100}
MAX_REPORTED_REJECTS = 50
EARLIEST_CONTACT_DATE = date(1900, 1, 1)

_BLOB_PATH = re.compile(r"companies/snapshot_date=(\d{4}-\d{2}-\d{2})/companies\.csv")
_SNAPSHOT_IN_PATH = re.compile(r"snapshot_date=(\d{4}-\d{2}-\d{2})")


class CrmFormatError(InputError):
    """The file as a whole is unusable (header, encoding, CSV structure); nothing of it may be loaded."""


class CrmRejectedError(InputError):
    """A snapshot had rejected rows and the caller did not allow loading the rest."""

    def __init__(self, result: CrmParseResult) -> None:
        super().__init__(result.report())
        self.result = result


def crm_blob_path(snapshot_date: date) -> str:
    """The blob name of a day's snapshot inside the CRM container."""
    return f"companies/snapshot_date={snapshot_date.isoformat()}/companies.csv"


def snapshot_date_of_path(path: str | Path) -> date | None:
    """The snapshot date a path names (`.../snapshot_date=YYYY-MM-DD/...`), or None when it names none."""
    match = _SNAPSHOT_IN_PATH.search(str(path).replace("\\", "/"))
    return parse_iso_date("snapshot_date", match.group(1)) if match else None


def parse_crm_blob_path(blob_name: str) -> date:
    """The inverse of crm_blob_path; CrmFormatError for any other name."""
    match = _BLOB_PATH.fullmatch(blob_name)
    if not match:
        expected = crm_blob_path(date(2026, 1, 31))
        raise CrmFormatError(f"not a CRM snapshot blob (expected {expected}): {shown(blob_name)}")
    return parse_iso_date("snapshot_date", match.group(1))


@dataclass(frozen=True)
class CrmRow:
    """One accepted row: empty fields are None."""

    company_id: str
    company_name: str | None
    industry_tag: str | None
    country: str | None
    last_contact_date: date | None


@dataclass(frozen=True)
class CrmReject:
    line: int  # physical line where the record starts (the header is line 1)
    field: str | None  # None when the whole row is wrong (column count)
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.reason} (value {shown(self.value)})"


@dataclass
class CrmParseResult:
    snapshot_date: date
    source: str
    rows: list[CrmRow] = field(default_factory=list)
    rejects: list[CrmReject] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejects

    def report(self) -> str:
        """Readable summary: counts, then one line per reject (the first MAX_REPORTED_REJECTS)."""
        head = (f"{self.source} (snapshot {self.snapshot_date}): "
                f"{len(self.rows)} rows accepted, {len(self.rejects)} rejected")
        lines = [head, *(f"  {r}" for r in self.rejects[:MAX_REPORTED_REJECTS])]
        if len(self.rejects) > MAX_REPORTED_REJECTS:
            lines.append(f"  ... and {len(self.rejects) - MAX_REPORTED_REJECTS} more")
        return "\n".join(lines)


def parse_crm_csv(source: str | Path | IO[bytes] | IO[str], snapshot_date: date, *, name: str | None = None
                  ) -> CrmParseResult:
    """Parse one snapshot CSV (a path, a binary stream or a text stream) into accepted rows and rejects."""
    if isinstance(source, str | Path):
        with open(source, "rb") as handle:
            return parse_crm_csv(handle, snapshot_date, name=name or str(source))
    result = CrmParseResult(snapshot_date, name or getattr(source, "name", None) or "<stream>")
    first_line: dict[str, int] = {}
    duplicated: dict[str, list[int]] = {}
    rows: list[tuple[int, CrmRow]] = []
    for line, row_or_reject in _records(_text(source, result.source), result.source):
        if isinstance(row_or_reject, CrmReject):
            result.rejects.append(row_or_reject)
            continue
        company = row_or_reject.company_id
        if company in first_line:
            duplicated.setdefault(company, [first_line[company]]).append(line)
        else:
            first_line[company] = line
        rows.append((line, row_or_reject))
    for company, lines in duplicated.items():
        for line in lines:
            others = ", ".join(str(n) for n in lines if n != line)
            result.rejects.append(CrmReject(line, "company_id", company,
                                            f"duplicate company_id (also on line {others}); no row of it is loaded"))
    result.rejects.sort(key=lambda r: r.line)
    result.rows = [row for _, row in rows if row.company_id not in duplicated]
    return result


def parse_crm_blob(container: Any, snapshot_date: date) -> CrmParseResult:
    """Download-and-parse the day's snapshot from a CRM ContainerClient, streaming its chunks."""
    blob_name = crm_blob_path(snapshot_date)
    downloader = container.get_blob_client(blob_name).download_blob()
    stream = io.BufferedReader(_ChunkReader(downloader.chunks()))
    return parse_crm_csv(stream, snapshot_date, name=f"{container.container_name}/{blob_name}")


def _text(source: IO[bytes] | IO[str], name: str) -> Iterator[str]:
    """Lines split only at CR, LF or CRLF (as csv wants); bytes are decoded line by line as strict UTF-8,
    so an encoding error names its line. CR and LF never occur inside a multi-byte UTF-8 sequence."""
    if isinstance(source.read(0), str):
        yield from source  # type: ignore[misc]
        return
    number, pending = 0, b""
    while True:
        chunk = source.read(64 * 1024)
        lines = (pending + chunk).splitlines(keepends=True)  # type: ignore[operator]
        pending = b""
        if chunk and lines and (lines[-1].endswith(b"\r") or not lines[-1].endswith(b"\n")):
            pending = lines.pop()  # may continue in the next chunk (even a CR whose LF comes next)
        for raw in lines:
            number += 1
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CrmFormatError(
                    f"{name}: line {number}: not valid UTF-8 at byte {exc.start + 1} of the line ({exc.reason})"
                ) from None
        if not chunk:
            return


def _records(lines: Iterable[str], source: str) -> Iterator[tuple[int, CrmRow | CrmReject]]:
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise CrmFormatError(f"{source}: empty file; expected the header {','.join(CRM_HEADER)}")
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]  # a BOM that reached us through a text stream
        positions = _header_positions(header, source)
        previous_end = reader.line_num
        for fields in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not fields:
                continue  # a blank line carries no data
            if len(fields) != len(header):
                yield start, CrmReject(start, None, ",".join(fields),
                                       f"expected {len(header)} fields, got {len(fields)}")
                continue
            yield start, _row(start, [fields[i] for i in positions])
    except csv.Error as exc:
        raise CrmFormatError(f"{source}: line {reader.line_num}: broken CSV ({exc})") from None



def _header_positions(header: list[str], source: str) -> list[int]:
    """Where each CRM_HEADER column is in the file's header; CrmFormatError naming missing or repeated names."""
    repeated = sorted({name for name in header if header.count(name) > 1})
    missing = [name for name in CRM_HEADER if name not in header]
    if repeated or missing:
        problem = (f"column(s) {', '.join(missing)} missing" if missing else "") + \
                  ("; " if missing and repeated else "") + \
                  (f"column(s) {', '.join(repeated)} repeated" if repeated else "")
        raise CrmFormatError(
            f"{source}: line 1: {problem}; the header needs each of {','.join(CRM_HEADER)} exactly once "
            f"(any order, further columns ignored); got {shown(','.join(header))}"
        )
    return [header.index(name) for name in CRM_HEADER]


def _row(line: int, fields: list[str]) -> CrmRow | CrmReject:
    if len(fields) != len(CRM_HEADER):
        return CrmReject(line, None, ",".join(fields), f"expected {len(CRM_HEADER)} fields, got {len(fields)}")
    values = dict(zip(CRM_HEADER, fields, strict=True))
    company = values["company_id"]
    if not company:
        return CrmReject(line, "company_id", company, "company_id is required")
    if company != company.strip():
        return CrmReject(line, "company_id", company, "company_id has leading or trailing whitespace")
    for name, limit in MAX_BYTES.items():
        size = len(values[name].encode())
        if size > limit:
            return CrmReject(line, name, values[name], f"{name} is {size} bytes in UTF-8, at most {limit} allowed")
    contact = None
    if values["last_contact_date"]:
        try:
            contact = parse_iso_date("last_contact_date", values["last_contact_date"])
        except DateFieldError as exc:
            return CrmReject(line, "last_contact_date", values["last_contact_date"], exc.message)
        if contact < EARLIEST_CONTACT_DATE:
            return CrmReject(line, "last_contact_date", values["last_contact_date"],
                             f"last_contact_date is before {EARLIEST_CONTACT_DATE.isoformat()}")
    return CrmRow(
        company_id=company,
        company_name=values["company_name"] or None,
        industry_tag=values["industry_tag"] or None,
        country=values["country"] or None,
        last_contact_date=contact,
    )


class _ChunkReader(io.RawIOBase):
    """A readable raw stream over an iterator of byte chunks (the blob SDK's downloader.chunks())."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
