"""The local stand-ins and contracts around the executor: settings, the Slack catcher, type conversion."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pytest
import requests

from company_activity.settings import SettingsError
from company_activity_local.pipeline.conversion import ConversionError, DateFormat, SqlType, convert
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.resources import load_factory
from company_activity_local.services.slack_catcher import SlackCatcher
from company_activity_local.settings import LocalRunSettings

AZURITE = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/x;"


# ------------------------------------------------------------------------------------------ settings


def test_settings_defaults_to_the_demo_duckdb_file() -> None:
    settings = LocalRunSettings.from_env({"LOCAL_BLOB_CONNECTION_STRING": AZURITE})
    assert settings.warehouse.duckdb_path == Path("out/warehouse.duckdb")
    assert settings.warehouse.connection_string is None
    assert settings.slack_webhook_url is None
    assert AZURITE not in repr(settings)


@pytest.mark.parametrize(("env", "named"), [
    ({}, "LOCAL_BLOB_CONNECTION_STRING"),
    ({"LOCAL_BLOB_CONNECTION_STRING": "nonsense"}, "LOCAL_BLOB_CONNECTION_STRING"),
    ({"LOCAL_BLOB_CONNECTION_STRING": AZURITE, "WAREHOUSE_PATH": "a.duckdb",
      "WAREHOUSE_CONNECTION_STRING": "Driver=x"}, "WAREHOUSE_CONNECTION_STRING"),
    ({"LOCAL_BLOB_CONNECTION_STRING": AZURITE, "SLACK_WEBHOOK_URL": "hooks.slack.com/services/T/B/secret"},
     "SLACK_WEBHOOK_URL"),
])
def test_settings_errors_name_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named) as caught:
        LocalRunSettings.from_env(env)
    assert "secret" not in str(caught.value)  # secret values are never echoed


def test_sql_server_connection_string_replaces_the_duckdb_file() -> None:
    settings = LocalRunSettings.from_env({"LOCAL_BLOB_CONNECTION_STRING": AZURITE,
                                          "WAREHOUSE_CONNECTION_STRING": "Driver={ODBC Driver 18};Pwd=p"})
    assert settings.warehouse.path is None
    assert settings.describe_warehouse() == "SQL Server (WAREHOUSE_CONNECTION_STRING)"


def test_the_repository_pipeline_is_runnable_by_the_local_executor() -> None:
    factory = load_factory()
    executor = PipelineExecutor(factory, resources=None)
    for pipeline in factory.pipelines.values():
        assert executor.definition_problems(pipeline["properties"]["activities"]) == []


# ------------------------------------------------------------------------------------- Slack catcher


def test_catcher_answers_like_slack() -> None:
    with SlackCatcher() as slack:
        ok = requests.post(slack.url, json={"text": "hello"}, timeout=5)
        assert (ok.status_code, ok.text) == (200, "ok")
        assert requests.post(slack.url, data=b"not json", timeout=5).status_code == 400
        assert requests.post(slack.url, json={"username": "x"}, timeout=5).text == "no_text"
        assert requests.post(slack.url.replace("/services/", "/other/"), json={"text": "x"}, timeout=5).status_code \
            == 404
        slack.fail_with(500)
        assert requests.post(slack.url, json={"text": "lost"}, timeout=5).status_code == 500
        slack.fail_with(200)
        assert [m.text for m in slack.messages] == ["hello"]
        assert slack.requests == 5
        assert [status for status, _ in slack.rejected] == [400, 400, 404, 500]


def test_catcher_can_go_down_and_come_back_on_the_same_url() -> None:
    with SlackCatcher() as slack:
        url = slack.url
        slack.go_down()
        with pytest.raises(requests.ConnectionError):
            requests.post(url, json={"text": "x"}, timeout=5)
        slack.come_up()
        assert requests.post(url, json={"text": "back"}, timeout=5).status_code == 200
        assert [m.text for m in slack.wait_for(1)] == ["back"]


# ---------------------------------------------------------------------------------------- conversion


@pytest.mark.parametrize(("value", "sql_type", "expected"), [
    (5, "INT", 5),
    ("5", "INT", 5),
    ("2026-01-31", "DATE", date(2026, 1, 31)),
    ("2026-01-31T00:00:00Z", "DATE", date(2026, 1, 31)),
    ("Müller", "VARCHAR(6)", None),  # 7 UTF-8 bytes: too long for VARCHAR(6)
    ("Müller", "NVARCHAR(6)", "Müller"),
    ("true", "BIT", True),
    (2.5, "FLOAT", 2.5),
    (None, "INT", "null"),
    ("2026-01-31T10:00:00", "DATETIME2", datetime(2026, 1, 31, 10)),
])
def test_conversion(value: object, sql_type: str, expected: object) -> None:
    if expected is None:
        with pytest.raises(ConversionError, match="7 bytes"):
            convert(value, SqlType.parse(sql_type))
    else:
        assert convert(value, SqlType.parse(sql_type)) == (None if expected == "null" else expected)


@pytest.mark.parametrize(("value", "sql_type"), [
    (True, "INT"), (2.5, "INT"), ("12a", "INT"), (2**31, "INT"), ("2026-02-30", "DATE"),
    ("2026-01-31T10:00:00", "DATE"), ({"a": 1}, "VARCHAR(10)"), ("maybe", "BIT"), ("nan", "FLOAT"),
])
def test_conversion_refuses_values_that_would_change_meaning(value: object, sql_type: str) -> None:
    with pytest.raises(ConversionError):
        convert(value, SqlType.parse(sql_type))


@pytest.mark.parametrize(("fmt", "text", "expected"), [
    ("yyyy-MM-dd", "2026-02-20", date(2026, 2, 20)),
    ("dd.MM.yyyy", "20.02.2026", date(2026, 2, 20)),
    ("yyyy-M-d", "2026-2-5", date(2026, 2, 5)),
    ("yyyy-M-d", "2026-02-05", date(2026, 2, 5)),  # .NET's M and d take one or two digits
    ("yyyyMMdd", "20260220", date(2026, 2, 20)),
])
def test_date_format_reads_what_it_spells(fmt: str, text: str, expected: date) -> None:
    assert convert(text, SqlType.parse("DATE"), DateFormat.parse(fmt)) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("2026/02/20", "does not match the dateFormat 'yyyy-MM-dd'"),
    ("20260220", "does not match"),
    ("2026-2-20", "does not match"),  # MM is exactly two digits
    ("26-02-20", "does not match"),  # yyyy is exactly four
    (" 2026-02-20", "does not match"),
    ("2026-02-20T00:00:00", "does not match"),
    ("2026-02-30", "not a calendar date (dateFormat 'yyyy-MM-dd')"),
])
def test_date_format_refuses_every_other_spelling(text: str, reason: str) -> None:
    with pytest.raises(ConversionError, match=re.escape(reason)):
        convert(text, SqlType.parse("DATE"), DateFormat.parse("yyyy-MM-dd"))


@pytest.mark.parametrize(("fmt", "reason"), [
    ("yyyy/MM/dd", "character '/' at position 4"),  # the culture's date separator
    ("yy-MM-dd", "token 'yy'"),
    ("yyyy-MMM-dd", "token 'MMM'"),
    ("yyyy-MM-dd HH:mm", "token 'HH'"),
    ("d", "standard format"),
    ("yyyy-MM", "does not give the day"),
    ("yyyy-MM-dd-dd", "the day appears twice"),
    ("", "non-empty"),
])
def test_date_format_refuses_formats_it_does_not_understand(fmt: str, reason: str) -> None:
    with pytest.raises(ConversionError, match=re.escape(reason)):
        DateFormat.parse(fmt)


def test_unsupported_sql_type_is_named() -> None:
    with pytest.raises(ConversionError, match="GEOGRAPHY"):
        SqlType.parse("GEOGRAPHY")
