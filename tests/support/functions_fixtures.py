"""The Functions app under test: its handlers loaded as the worker loads function_app.py, app settings that point
at Azurite and the simulator, and helpers to call the HTTP handlers and read their answers."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import azure.functions as func
import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from company_activity.functions import runtime
from company_activity.ingest.dates import yesterday
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.simulator import UsageApiSimulator
from tests.support.entra_standin import EntraStandIn

APP_ROOT = Path(__file__).resolve().parents[2] / "function_app"
MAX_DAYS = 31
YESTERDAY = yesterday(ZoneInfo("UTC"))


class Collected(func.Out):  # type: ignore[type-arg]
    """What an output binding receives."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


@pytest.fixture(scope="module")
def handlers() -> dict[str, Callable[..., Any]]:
    spec = importlib.util.spec_from_file_location("function_app_under_test", APP_ROOT / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {f.get_function_name(): f.get_user_function() for f in module.app.get_functions()}


# Every role of the API: the tests of the handlers' behaviour call as a fully entitled operator; what each
# role may do is tested in tests/app/functions/test_http_security.py.
ALL_ROLES = ("CompanyActivity.Read", "CompanyActivity.Backfill", "CompanyActivity.ForceReingest")
CALLER: dict[str, str] = {}


@pytest.fixture()
def app_env(monkeypatch: pytest.MonkeyPatch, azurite: Azurite, usage_api: UsageApiSimulator,
            container_name: str, blob_service: BlobServiceClient, entra: EntraStandIn) -> Iterator[dict[str, str]]:
    env = {
        **entra.settings(),
        "USAGE_API_BASE_URL": usage_api.base_url,
        "USAGE_API_KEY": usage_api.api_key,
        "USAGE_API_PAGE_SIZE": "500",
        "STORAGE_CONNECTION_STRING": azurite.connection_string,
        "BRONZE_CONTAINER": container_name,
        "INGEST_TIMEZONE": "UTC",
        "BACKFILL_MAX_DAYS": str(MAX_DAYS),
        "BACKFILL_LOAD_ENABLED": "false",  # the load's ARM contract is tested in test_backfill_load.py
    }
    for name in ("STORAGE_ACCOUNT_URL", "REJECT_THRESHOLD", "USAGE_API_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys.modules[__name__], "CALLER", entra.header(*ALL_ROLES))
    runtime.reset()
    yield env
    runtime.reset()
    container = blob_service.get_container_client(container_name)
    if container.exists():
        container.delete_container()


def post(handlers: dict[str, Callable[..., Any]], body: bytes,
         headers: dict[str, str] | None = None) -> tuple[func.HttpResponse, Collected]:
    out = Collected()
    request = func.HttpRequest("POST", "http://localhost/api/backfill", body=body,
                               headers=CALLER if headers is None else headers)
    return handlers["backfill"](request, out), out


def get_status(handlers: dict[str, Callable[..., Any]], headers: dict[str, str] | None = None,
               **params: str) -> func.HttpResponse:
    return handlers["ingestions"](func.HttpRequest("GET", "http://localhost/api/ingestions", body=b"", params=params,
                                                   headers=CALLER if headers is None else headers))


def body_of(response: func.HttpResponse) -> Any:
    assert response.mimetype == "application/json"
    return json.loads(response.get_body())


def container_of(env: dict[str, str]) -> ContainerClient:
    return BlobServiceClient.from_connection_string(env["STORAGE_CONNECTION_STRING"]).get_container_client(
        env["BRONZE_CONTAINER"]
    )


def days_ago(n: int) -> str:
    return (YESTERDAY - timedelta(days=n - 1)).isoformat()
