"""The HTTP endpoints against a hostile caller (issue 22): identifiers and errors at the edge.

In-process handlers against Azurite, the simulator and the ARM stand-in on loopback, as in
tests/app/orchestration/test_backfill_load.py, whose fixtures these tests share.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from company_activity.functions import runtime
from tests.app.orchestration.test_backfill_load import arm, get_backfill  # noqa: F401 (fixtures)
from tests.support.arm_standin import ArmStandIn, RecordingCredential
from tests.support.entra_standin import EntraStandIn
from tests.support.functions_fixtures import ALL_ROLES, body_of, days_ago, get_status, post

GUID = str(uuid.UUID(int=7))


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "%0A", " ", "\x00"])
def test_a_run_id_with_anything_after_the_guid_is_refused_before_arm_is_called(
    handlers: dict[str, Callable[..., Any]], arm: tuple[ArmStandIn, RecordingCredential], suffix: str,  # noqa: F811
) -> None:
    stand_in, _ = arm
    response = get_backfill(handlers, GUID + suffix)
    assert response.status_code == 400
    assert body_of(response)["errors"][0]["field"] == "run_id"
    assert stand_in.requests == []


# ------------------------------------------------------------------------------- who may call (finding 1)

def backfill_body(start: int = 3, end: int = 1, **extra: Any) -> bytes:
    return json.dumps({"start_date": days_ago(start), "end_date": days_ago(end), **extra}).encode()


def call(handlers: dict[str, Callable[..., Any]], endpoint: str, headers: dict[str, str]) -> tuple[int, int]:
    """(status, queue messages) of one call of `endpoint` with `headers`."""
    if endpoint == "backfill":
        response, out = post(handlers, backfill_body(), headers=headers)
        return response.status_code, len(out.value or [])
    if endpoint == "ingestions":
        return get_status(handlers, headers=headers, start_date=days_ago(1), end_date=days_ago(1)).status_code, 0
    request = func.HttpRequest("GET", f"http://localhost/api/backfill/{GUID}", body=b"",
                               route_params={"run_id": GUID}, headers=headers)
    return handlers["backfill_status"](request).status_code, 0


OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FORGED = {
    "no header": lambda e: {},
    "basic auth": lambda e: {"Authorization": "Basic b3A6cGFzcw=="},
    "function key": lambda e: {"x-functions-key": "leaked-function-key"},
    "wrong audience": lambda e: e.header(*ALL_ROLES, aud="00000000-0000-0000-0000-000000000000"),
    "other tenant": lambda e: e.header(*ALL_ROLES, tid="00000000-0000-0000-0000-000000000001"),
    "wrong issuer": lambda e: e.header(*ALL_ROLES, iss="https://sts.windows.net/x/"),
    "expired": lambda e: e.header(*ALL_ROLES, exp=int(time.time()) - 3600),
    "not yet valid": lambda e: e.header(*ALL_ROLES, nbf=int(time.time()) + 3600),
    "signed by another key": lambda e: {"Authorization": "Bearer " + e.token(*ALL_ROLES, key=OTHER_KEY)},
    "HS256 with the public key as secret": lambda e: {"Authorization": "Bearer " + e.token(
        *ALL_ROLES, key="a" * 64, algorithm="HS256")},
    "unsigned": lambda e: {"Authorization": "Bearer " + e.token(*ALL_ROLES, key=None, algorithm="none")},
    "X-MS-CLIENT-PRINCIPAL alone": lambda e: {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(
        {"auth_typ": "aad", "claims": [{"typ": "roles", "val": r} for r in ALL_ROLES]}).encode()).decode()},
}


@pytest.mark.parametrize("endpoint", ["backfill", "ingestions", "backfill_status"])
@pytest.mark.parametrize("forgery", list(FORGED))
def test_every_endpoint_refuses_a_caller_without_a_valid_entra_token(
    handlers: dict[str, Callable[..., Any]], arm: tuple[ArmStandIn, RecordingCredential],  # noqa: F811
    entra: EntraStandIn, endpoint: str, forgery: str,
) -> None:
    status, messages = call(handlers, endpoint, FORGED[forgery](entra))
    assert (status, messages) == (401, 0)
    assert arm[0].requests == []


ROLE_MATRIX = [  # roles -> (POST backfill, POST backfill with force, GET ingestions, GET backfill/{id})
    ((), (403, 403, 403, 403)),
    (("CompanyActivity.Read",), (403, 403, 200, 404)),
    (("CompanyActivity.Backfill",), (202, 403, 403, 403)),
    (("CompanyActivity.Backfill", "CompanyActivity.ForceReingest"), (202, 202, 403, 403)),
]


@pytest.mark.parametrize(("roles", "expected"), ROLE_MATRIX)
def test_each_endpoint_needs_its_app_role(
    handlers: dict[str, Callable[..., Any]], arm: tuple[ArmStandIn, RecordingCredential],  # noqa: F811
    entra: EntraStandIn, roles: tuple[str, ...], expected: tuple[int, ...],
) -> None:
    stand_in, _ = arm
    headers = entra.header(*roles)
    plain, _ = post(handlers, backfill_body(), headers=headers)
    for run in stand_in.runs.values():
        run["status"] = "Succeeded"
    forced, out = post(handlers, backfill_body(force=True), headers=headers)
    got = (plain.status_code, forced.status_code, call(handlers, "ingestions", headers)[0],
           call(handlers, "backfill_status", headers)[0])
    assert got == expected
    if forced.status_code == 403:
        needed = "CompanyActivity.ForceReingest" if "CompanyActivity.Backfill" in roles else "CompanyActivity.Backfill"
        assert out.value is None and needed in body_of(forced)["error"]


def test_a_misconfigured_tenant_refuses_everyone(
    handlers: dict[str, Callable[..., Any]], app_env: dict[str, str], entra: EntraStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTH_API_CLIENT_ID", "")
    runtime.reset()
    response, out = post(handlers, backfill_body(), headers=entra.header(*ALL_ROLES))
    assert response.status_code == 500 and body_of(response) == {"error": "server misconfigured: AUTH_API_CLIENT_ID"}
    assert out.value is None


def test_unreachable_signing_keys_fail_closed(
    handlers: dict[str, Callable[..., Any]], app_env: dict[str, str], entra: EntraStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv("AUTH_AUTHORITY", f"http://127.0.0.1:{port}")
    runtime.reset()
    response, out = post(handlers, backfill_body(), headers=entra.header(*ALL_ROLES))
    assert response.status_code == 503 and out.value is None and body_of(response)["correlation_id"]


# ------------------------------------------------------------------------- one backfill at a time (finding 1)

@pytest.mark.parametrize("status", ["Queued", "InProgress"])
def test_a_second_backfill_is_refused_while_one_is_queued_or_running(
    handlers: dict[str, Callable[..., Any]], arm: tuple[ArmStandIn, RecordingCredential],  # noqa: F811
    status: str,
) -> None:
    stand_in, _ = arm
    first, out = post(handlers, backfill_body())
    assert first.status_code == 202 and len(out.value) == 3
    running = body_of(first)["load"]["run_id"]
    stand_in.runs[running]["status"] = status
    for _ in range(5):
        again, out = post(handlers, backfill_body(10, 5))
        assert again.status_code == 409 and out.value is None  # nothing enqueued, no second load
        assert body_of(again)["running_run_id"] == running
    assert len([r for r in stand_in.requests if r.path.endswith("createRun")]) == 1
    stand_in.runs[running]["status"] = "Succeeded"
    assert post(handlers, backfill_body(10, 5))[0].status_code == 202
