"""The CRM CSV contract: paths, accepted rows, every kind of reject, file-level errors, streaming."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest

from company_activity_local.services.crm_generator import CrmGenerator, upload_crm_snapshot
from company_activity_local.warehouse.crm import (
    CRM_HEADER,
    MAX_REPORTED_REJECTS,
    CrmFormatError,
    CrmRow,
    crm_blob_path,
    parse_crm_blob,
    parse_crm_blob_path,
    parse_crm_csv,
    snapshot_date_of_path,
)

DAY = date(2026, 3, 14)
HEADER = ",".join(CRM_HEADER)


class OneByteAtATime(io.RawIOBase):
    """A stream that hands out one byte per read, as a blob download may split a line anywhere."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if not self._data or not len(target):
            return 0
        target[0], self._data = self._data[0], self._data[1:]
        return 1


def parse(text: str, **kwargs: object):
    return parse_crm_csv(io.BytesIO(text.encode()), DAY, **kwargs)  # type: ignore[arg-type]


def test_blob_path_round_trips_and_names_the_date() -> None:
    assert crm_blob_path(DAY) == "companies/snapshot_date=2026-03-14/companies.csv"
    assert parse_crm_blob_path(crm_blob_path(DAY)) == DAY
    assert snapshot_date_of_path("/tmp/x/companies/snapshot_date=2026-03-14/companies.csv") == DAY
    assert snapshot_date_of_path("/tmp/companies.csv") is None
    with pytest.raises(CrmFormatError, match="not a CRM snapshot blob"):
        parse_crm_blob_path("companies/2026-03-14.csv")


def test_accepts_bom_crlf_quoting_multiline_names_and_empty_fields() -> None:
    text = (
        "\ufeff" + HEADER + "\r\n"
        'c000001,"Müller, Söhne & ""Co""",saas,Österreich,2026-03-01\r\n'
        'c000002,"Two\r\nLines",,,\r\n'
        "\r\n"
        "c000003,株式会社サンプル,retail,JP,2026-03-15\r\n"
    )
    result = parse(text)
    assert result.ok, result.report()
    assert result.rows == [
        CrmRow(
            company_id="c000001",
            company_name='Müller, Söhne & "Co"',
            industry_tag="saas",
            country="Österreich",
            last_contact_date=date(2026, 3, 1),
        ),
        CrmRow(
            company_id="c000002", company_name="Two\r\nLines", industry_tag=None, country=None, last_contact_date=None
        ),
        CrmRow(
            company_id="c000003",
            company_name="株式会社サンプル",
            industry_tag="retail",
            country="JP",
            last_contact_date=date(2026, 3, 15),
        ),
    ]


def test_text_streams_and_paths_parse_like_bytes(tmp_path) -> None:
    text = HEADER + "\nc1,A,b,c,2026-01-02\nc2,B,,,\n"
    path = tmp_path / "companies.csv"
    path.write_text("\ufeff" + text, encoding="utf-8")
    expected = parse(text).rows
    assert parse_crm_csv(io.StringIO(text, newline=""), DAY).rows == expected
    from_path = parse_crm_csv(path, DAY)
    assert from_path.rows == expected
    assert from_path.source == str(path)


@pytest.mark.parametrize(
    ("line", "field", "value", "reason"),
    [
        (",Acme,saas,US,", "company_id", "", "company_id is required"),
        ("c" * 65 + ",Acme,saas,US,", "company_id", "c" * 65, "65 bytes in UTF-8, at most 64"),
        (" c1,Acme,saas,US,", "company_id", " c1", "leading or trailing whitespace"),
        ("c1,Acme,saas,US,2026-13-01", "last_contact_date", "2026-13-01", "not a calendar date"),
        ("c1,Acme,saas,US,20260301", "last_contact_date", "20260301", "must be a date YYYY-MM-DD"),
        ("c1,Acme,saas,US,01/03/2026", "last_contact_date", "01/03/2026", "must be a date YYYY-MM-DD"),
        # A placeholder, and before 0001-01-07 an overflow of the merge's DATEADD(DAY, -6, ...) (error 517).
        ("c1,Acme,saas,US,0001-01-01", "last_contact_date", "0001-01-01", "before 1900-01-01"),
        ("c1,Acme,saas,US,1899-12-31", "last_contact_date", "1899-12-31", "before 1900-01-01"),
        ("c1,Acme,saas,US", None, "c1,Acme,saas,US", "expected 5 fields, got 4"),
        ("c1,Acme,saas,US,,extra", None, "c1,Acme,saas,US,,extra", "expected 5 fields, got 6"),
        # 101 characters of 2 bytes each: 202 bytes, over VARCHAR(200) in a UTF-8 collation.
        ("c1," + "é" * 101 + ",saas,US,", "company_name", "é" * 101, "202 bytes in UTF-8, at most 200"),
        ("c1,Acme," + "x" * 101 + ",US,", "industry_tag", "x" * 101, "101 bytes in UTF-8, at most 100"),
        ("c1,Acme,saas," + "y" * 101 + ",", "country", "y" * 101, "101 bytes in UTF-8, at most 100"),
    ],
)
def test_bad_rows_are_rejected_with_line_field_value_and_reason(line, field, value, reason) -> None:
    result = parse(f"{HEADER}\nc0,Good,saas,US,2026-01-01\n{line}\nc9,Also good,,,\n")
    assert [r.company_id for r in result.rows] == ["c0", "c9"]
    assert len(result.rejects) == 1
    reject = result.rejects[0]
    assert (reject.line, reject.field, reject.value) == (3, field, value)
    assert reason in reject.reason
    assert f"line 3{', ' + field if field else ''}: " in result.report()


def test_limits_are_inclusive() -> None:
    name = "é" * 100  # 200 bytes
    result = parse(f"{HEADER}\n{'c' * 64},{name},{'x' * 100},{'y' * 100},1900-01-01\n")
    assert result.ok, result.report()
    assert result.rows[0].company_name == name


def test_a_duplicated_id_rejects_every_occurrence() -> None:
    result = parse(f"{HEADER}\nc1,First,,,\nc2,Other,,,\nc1,Second,,,\nc1,Third,,,\n")
    assert [r.company_id for r in result.rows] == ["c2"]
    assert [(r.line, r.field) for r in result.rejects] == [(2, "company_id"), (4, "company_id"), (5, "company_id")]
    assert "also on line 4, 5" in result.rejects[0].reason
    assert "also on line 2, 5" in result.rejects[1].reason


def test_line_numbers_count_physical_lines_after_a_multiline_field() -> None:
    result = parse(f'{HEADER}\nc1,"a\nb\nc",,,\nc2,x,,,2026-02-30\n')
    assert result.rejects[0].line == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file; expected the header company_id,company_name,industry_tag,country,last_contact_date"),
        ("id,name,industry,country,contact\nc1,a,b,c,\n", "column(s) company_id, company_name, industry_tag, "
         "last_contact_date missing"),
        ("company_id,company_name,industry_tag,country\nc1,a,b,c\n", "column(s) last_contact_date missing"),
        ("Company_ID,company_name,industry_tag,country,last_contact_date\n", "column(s) company_id missing"),
        ("company_id,company_name,industry_tag,country,last_contact_date,country\n", "column(s) country repeated"),
    ],
)
def test_a_missing_or_wrong_header_fails_the_file_naming_the_expected_header(content, message) -> None:
    with pytest.raises(CrmFormatError, match=r"expected the header|exactly once") as caught:
        parse(content)
    assert message in str(caught.value)


def test_invalid_utf8_fails_the_file_naming_the_line() -> None:
    data = f"{HEADER}\nc1,ok,,,\n".encode() + b"c2,caf\xe9,,,\n"
    with pytest.raises(CrmFormatError, match=r"line 3: not valid UTF-8 at byte 7"):
        parse_crm_csv(io.BytesIO(data), DAY)


def test_broken_quoting_fails_the_file() -> None:
    with pytest.raises(CrmFormatError, match="broken CSV"):
        parse(f'{HEADER}\nc1,"unterminated,,,\n')


def test_report_is_bounded() -> None:
    lines = "".join(f"c{i},x,,,never\n" for i in range(MAX_REPORTED_REJECTS + 7))
    report = parse(HEADER + "\n" + lines).report()
    assert f"0 rows accepted, {MAX_REPORTED_REJECTS + 7} rejected" in report
    assert report.endswith("... and 7 more")


def test_parsing_byte_by_byte_gives_the_same_result() -> None:
    """The parser streams: a CRLF or a multi-byte letter split across reads changes nothing."""
    rows = CrmGenerator(60, seed=5).snapshot(DAY)
    buffer = io.BytesIO()
    from company_activity_local.services.crm_generator import write_crm_csv

    write_crm_csv(rows, buffer)
    data = buffer.getvalue().replace(b"\n", b"\r\n")
    one_byte_chunks = io.BufferedReader(OneByteAtATime(data), 1)
    assert parse_crm_csv(one_byte_chunks, DAY).rows == rows


def test_snapshot_round_trips_through_blob_storage(container) -> None:
    rows = CrmGenerator(40, seed=2).snapshot(DAY)
    name = upload_crm_snapshot(container, DAY, rows)
    assert name == crm_blob_path(DAY)
    result = parse_crm_blob(container, DAY)
    assert result.ok
    assert result.rows == rows
    assert result.source.endswith(crm_blob_path(DAY))


def test_header_is_mapped_by_name_in_any_order_and_extra_columns_are_ignored() -> None:
    result = parse("country,extra,last_contact_date,company_id,industry_tag,company_name\n"
                   "DE,x,2026-01-02,c1,saas,Acme\nUS,y,,c2,,\nFR,z,,c3\n")
    assert [(r.company_id, r.company_name, r.industry_tag, r.country, str(r.last_contact_date)) for r in result.rows] \
        == [("c1", "Acme", "saas", "DE", "2026-01-02"), ("c2", None, None, "US", "None")]
    assert [(r.line, r.reason) for r in result.rejects] == [(4, "expected 6 fields, got 4")]
