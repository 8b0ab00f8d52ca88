"""GET /api/dashboard as the Functions host calls it: the handler of function_app.py, a real HttpRequest with the
headers App Service authentication sets, the rpt views of a warehouse deployed from sql/ (read in T-SQL, through
the strict translator: the same batches the Function sends to Azure SQL), and Data Factory's run history from
the local ARM stand-in. The page must render for a member of the allowed group and for no one else."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.core.pipeline.transport import HttpTransport

from company_activity.dashboard import azure_sql
from company_activity.dashboard.render import CONTENT_SECURITY_POLICY
from company_activity.functions import dashboard as dashboard_function
from company_activity.functions import load, runtime
from company_activity_local.warehouse import open_warehouse
from tests.support.arm_standin import FACTORY, ArmStandIn, RecordingCredential
from tests.support.warehouse_helpers import day

APP_ROOT = Path(__file__).resolve().parents[3] / "function_app"
GROUP = "8a5c0a3e-1d3b-4c1e-9f55-0d7a1b2c3d4e"
MEMBER = "0f1e2d3c-4b5a-4968-8776-655443322110"
OUTSIDER = "11111111-2222-4333-8444-555555555555"
IDENTITY = "22222222-3333-4444-8555-666666666666"


@pytest.fixture(scope="module")
def handler() -> Callable[[func.HttpRequest], func.HttpResponse]:
    spec = importlib.util.spec_from_file_location("function_app_dashboard", APP_ROOT / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {f.get_function_name(): f.get_user_function() for f in module.app.get_functions()}["dashboard"]


@pytest.fixture()
def arm() -> Iterator[ArmStandIn]:
    with ArmStandIn() as stand_in:
        yield stand_in


@pytest.fixture()
def app(monkeypatch: pytest.MonkeyPatch, arm: ArmStandIn, loaded: Path) -> Iterator[list[str]]:
    """The app settings Bicep sets, the Function's readers pointed at the test warehouse; yields the connection
    strings the reader factory was called with."""
    env = {
        "USAGE_API_BASE_URL": "https://usage.example.com", "USAGE_API_KEY": "k",
        "STORAGE_ACCOUNT_URL": "https://account.blob.core.windows.net", "DATA_FACTORY_RESOURCE_ID": FACTORY,
        "ARM_ENDPOINT": arm.url, "DASHBOARD_ALLOWED_GROUPS": GROUP, "DASHBOARD_ALLOWED_USERS": "",
        "DASHBOARD_SQL_CONNECTION_STRING": "Server=tcp:sql.example.net,1433;Database=company_activity;"
                                           f"Encrypt=yes;Authentication=ActiveDirectoryMSI;UID={IDENTITY}",
    }  # fmt: skip
    monkeypatch.delenv("STORAGE_CONNECTION_STRING", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    opened: list[str] = []

    def reader(connection_string: str) -> Any:
        opened.append(connection_string)
        return open_warehouse(duckdb_path=loaded)

    monkeypatch.setattr(dashboard_function, "reader_factory", reader)
    monkeypatch.setattr(load, "credential_factory", RecordingCredential)
    runtime.reset()
    load.reset()
    yield opened
    runtime.reset()
    load.reset()


def principal_headers(object_id: str, groups: list[str]) -> dict[str, str]:
    claims = [{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": object_id}]
    claims += [{"typ": "groups", "val": g} for g in groups]
    encoded = base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims}).encode()).decode()
    return {"X-MS-CLIENT-PRINCIPAL-ID": object_id, "X-MS-CLIENT-PRINCIPAL": encoded,
            "X-MS-CLIENT-PRINCIPAL-IDP": "aad"}  # fmt: skip


def get(handler: Callable[..., func.HttpResponse], headers: dict[str, str],
        params: dict[str, str] | None = None) -> func.HttpResponse:
    return handler(func.HttpRequest("GET", "/api/dashboard", headers=headers, params=params or {}, body=b""))


def page_data(response: func.HttpResponse) -> dict[str, Any]:
    html = response.get_body().decode()
    found = re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', html, re.DOTALL)
    assert found, "no data in the page"
    return json.loads(found.group(1))


def test_an_unauthenticated_request_is_refused_before_the_warehouse_is_opened(handler, app):
    response = get(handler, {})
    assert response.status_code == 401
    assert "sign-in required" in response.get_body().decode()
    # a forged principal name without the id App Service sets is no principal either
    assert get(handler, {"X-MS-CLIENT-PRINCIPAL-NAME": "someone@example.com"}).status_code == 401
    assert app == []


def test_a_signed_in_user_outside_the_group_is_forbidden(handler, app):
    response = get(handler, principal_headers(OUTSIDER, ["99999999-9999-4999-8999-999999999999"]))
    assert response.status_code == 403
    assert app == []


def test_a_member_of_the_group_gets_the_page_from_the_rpt_views(handler, app, arm):
    arm.runs["f1"] = {"runId": "f1", "pipelineName": "PL_daily_company_activity", "status": "Failed",
                      "parameters": {"runDate": day(11).isoformat()}, "message": "WaitForManifest timed out",
                      "runStart": "2026-03-12T02:00:00.1234567Z", "runEnd": "2026-03-12T02:30:00Z"}  # fmt: skip
    arm.runs["s1"] = {"runId": "s1", "pipelineName": "PL_daily_company_activity", "status": "Succeeded",
                      "parameters": {"runDate": day(10).isoformat()}, "message": "",
                      "runStart": "2026-03-11T02:00:00Z", "runEnd": "2026-03-11T02:01:00Z"}  # fmt: skip
    arm.runs["s2"] = {"runId": "s2", "pipelineName": "PL_daily_company_activity", "status": "Succeeded",
                      "parameters": {"runDate": day(9).isoformat()}, "message": "",
                      "runStart": "2026-03-10T02:00:00Z", "runEnd": "2026-03-10T02:01:00Z"}  # fmt: skip
    arm.runs["b1"] = {"runId": "b1", "pipelineName": "PL_backfill_company_activity", "status": "Succeeded",
                      "parameters": {"startDate": day(1).isoformat(), "endDate": day(3).isoformat()}, "message": "",
                      "runStart": "2026-03-09T02:00:00Z", "runEnd": "2026-03-09T02:30:00Z"}  # fmt: skip
    response = get(handler, principal_headers(MEMBER, [GROUP]))
    assert response.status_code == 200, response.get_body()
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_body().decode()
    assert f'content="{CONTENT_SECURITY_POLICY}"' in html  # one policy: the header and the page's meta tag
    data = page_data(response)
    assert data["day"] == day(10).isoformat() and len(data["dates"]) == 10
    assert app == [f"Server=tcp:sql.example.net,1433;Database=company_activity;Encrypt=yes;"
                   f"Authentication=ActiveDirectoryMSI;UID={IDENTITY}"]  # fmt: skip
    # every run of both pipelines, the failed one unresolved
    assert sorted(r["runId"] for r in data["runs"]) == ["b1", "f1", "s1", "s2"]
    assert data["health"]["status"] == "failed" and data["health"]["unresolved"] == ["f1"]
    queries = [r for r in arm.requests if r.path.endswith("/queryPipelineRuns")]
    assert [q.body["filters"][0]["values"] for q in queries] == [["PL_daily_company_activity"],
                                                                 ["PL_backfill_company_activity"]]
    assert all(set(q.body["filters"][1]["values"]) >= {"Failed", "Succeeded", "InProgress"} for q in queries)
    # the numbers are the warehouse's: a company on the call list, its rank and flags
    companies = {c[0] for c in data["companies"]}
    assert "a" in companies  # at risk every day (low activity): on the call list


def test_a_listed_user_gets_the_page_too(handler, app, monkeypatch):
    monkeypatch.setenv("DASHBOARD_ALLOWED_USERS", MEMBER)
    monkeypatch.setenv("DASHBOARD_ALLOWED_GROUPS", "")
    assert get(handler, principal_headers(MEMBER, [])).status_code == 200
    assert get(handler, principal_headers(OUTSIDER, [GROUP])).status_code == 403


def test_a_day_is_chosen_with_date_and_checked(handler, app):
    headers = principal_headers(MEMBER, [GROUP])
    response = get(handler, headers, {"date": day(5).isoformat()})
    assert response.status_code == 200 and page_data(response)["day"] == day(5).isoformat()
    assert get(handler, headers, {"date": "05/03/2026"}).status_code == 400
    missing = get(handler, headers, {"date": day(40).isoformat()})
    assert missing.status_code == 404 and "not a loaded day" in missing.get_body().decode()


def test_the_page_still_renders_when_the_run_history_cannot_be_read(handler, app, arm, monkeypatch):
    # The ARM client retries the three 500s as configured; only azure-core's backoff sleeps (~2 s) are skipped.
    monkeypatch.setattr(HttpTransport, "sleep", lambda _self, _duration: None)
    arm.fail_next(500, count=3)
    response = get(handler, principal_headers(MEMBER, [GROUP]))
    assert response.status_code == 200
    data = page_data(response)
    assert data["runs"] == [] and data["health"]["status"] == "unknown"
    assert data["runs_source"].startswith("unavailable: Data Factory's run history could not be read")


def test_a_password_in_the_connection_string_is_a_misconfiguration_named_without_its_value(handler, app,
                                                                                           monkeypatch):
    monkeypatch.setenv("DASHBOARD_SQL_CONNECTION_STRING", "Server=tcp:x;UID=sa;PWD=hunter2-secret")
    response = get(handler, principal_headers(MEMBER, [GROUP]))
    assert response.status_code == 500
    body = response.get_body().decode()
    assert "DASHBOARD_SQL_CONNECTION_STRING" in body and "hunter2" not in body


def test_an_unreachable_warehouse_is_503_without_details(handler, app, monkeypatch):
    def refuse(connection_string: str) -> Any:
        return azure_sql.AzureSqlReader(connection_string, connect=_refusing_connect)

    monkeypatch.setattr(dashboard_function, "reader_factory", refuse)
    response = get(handler, principal_headers(MEMBER, [GROUP]))
    assert response.status_code == 503
    assert "cannot be read" in response.get_body().decode() and "sql.example.net" not in response.get_body().decode()


def _refusing_connect(*args: Any, **kwargs: Any) -> Any:
    raise OSError("Login timeout expired (sql.example.net)")


# --------------------------------------------------------------------------- the mssql-python reader


class ScriptedCursor:
    """A DB-API cursor that answers two result sets (as a batch with a SELECT before the last one does)."""

    def __init__(self, sets: list[tuple[list[str], list[tuple[Any, ...]]] | None]) -> None:
        self.sets, self.index, self.executed = sets, 0, []

    @property
    def description(self) -> Any:
        current = self.sets[self.index]
        return None if current is None else [(name, None) for name in current[0]]

    def execute(self, sql: str, params: Any = None) -> None:
        self.executed.append((sql, params))

    def fetchall(self) -> list[tuple[Any, ...]]:
        current = self.sets[self.index]
        assert current is not None
        return current[1]

    def nextset(self) -> bool:
        self.index += 1
        return self.index < len(self.sets)

    def close(self) -> None:
        pass


def test_the_reader_binds_parameters_as_tsql_variables_and_returns_the_last_result_set():
    cursor = ScriptedCursor([None, (["a"], [(1,)]), None, (["n", "d"], [(2, day(1))])])
    connection = type("Connection", (), {"cursor": lambda self: cursor, "close": lambda self: None})()
    calls: list[tuple[Any, ...]] = []

    def connect(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return connection

    with azure_sql.AzureSqlReader("Server=tcp:x", connect=connect) as reader:
        rows = reader.query("SELECT n, d FROM rpt.x WHERE d = @day AND n > @n", {"day": day(1), "n": 1})
    assert rows == [{"n": 2, "d": day(1)}]
    assert cursor.executed == [("SET NOCOUNT ON; DECLARE @day DATE = ?; DECLARE @n BIGINT = ?; "
                                "SELECT n, d FROM rpt.x WHERE d = @day AND n > @n", [day(1), 1])]  # fmt: skip
    assert calls == [(("Server=tcp:x",), {"autocommit": True, "timeout": azure_sql.LOGIN_TIMEOUT_S})]
    with pytest.raises(ValueError, match="not an identifier"):
        azure_sql.bind("SELECT 1", {"x; DROP TABLE t": 1})


def test_text_parameters_are_varchar_variables_as_in_the_sql_server_engine():
    """A VARCHAR variable compared with the views' VARCHAR columns converts nothing; an NVARCHAR one would
    convert the column (data type precedence) and lose the index seek."""
    batch, values = azure_sql.bind("SELECT 1 FROM rpt.call_list WHERE company_id = @c", {"c": "acme", "n": None})
    assert batch.startswith("SET NOCOUNT ON; DECLARE @c VARCHAR(8000) = ?; DECLARE @n VARCHAR(8000) = ?; ")
    assert values == ["acme", None]
    long_text, _ = azure_sql.bind("SELECT @t", {"t": "é" * 4001})  # 8002 bytes in UTF-8
    assert "DECLARE @t VARCHAR(MAX) = ?" in long_text


def test_the_reader_names_a_missing_view_as_a_deploy_problem():
    class Failing(ScriptedCursor):
        def execute(self, sql: str, params: Any = None) -> None:
            raise RuntimeError("[42S02] Invalid object name 'rpt.loaded_days'. (208)")

    cursor = Failing([None])
    connection = type("Connection", (), {"cursor": lambda self: cursor, "close": lambda self: None})()
    reader = azure_sql.AzureSqlReader("x", connect=lambda *a, **k: connection)
    from company_activity.dashboard.data import DashboardError

    with pytest.raises(DashboardError, match="company-activity sql deploy"):
        reader.query("SELECT 1 AS x FROM rpt.loaded_days")
