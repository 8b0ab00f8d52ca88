"""The Data Factory client itself, against the loopback ARM stand-in: azure-core's pipeline, this app's retry
rules and its errors (the handler-level contract is in test_backfill_load.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.core.pipeline.transport import HttpTransport

from company_activity.errors import OperationalError
from company_activity.orchestration.data_factory import ArmError, DataFactoryClient
from company_activity.resource_ids import FactoryRef
from tests.support.arm_standin import FACTORY, TOKEN, ArmStandIn, RecordingCredential


@pytest.fixture()
def stand_in() -> Iterator[ArmStandIn]:
    with ArmStandIn() as arm:
        yield arm


def client(endpoint: str) -> DataFactoryClient:
    return DataFactoryClient(FactoryRef.parse(FACTORY), RecordingCredential(), endpoint=endpoint)


def test_an_arm_error_is_an_operational_error_caused_by_azure_cores_http_response_error(stand_in: ArmStandIn) -> None:
    stand_in.fail_next(403)
    with pytest.raises(ArmError) as raised:
        client(stand_in.url).create_run("PL_backfill_company_activity", {})
    error = raised.value
    assert isinstance(error, OperationalError)
    assert (error.status, error.code, error.arm_message) == (403, "Code403", "stand-in answer 403")
    assert isinstance(error.__cause__, HttpResponseError) and error.__cause__.status_code == 403
    assert "no permission on the factory (403)" in str(error) and TOKEN not in str(error)


def test_create_run_is_not_retried_even_when_arm_sends_retry_after(stand_in: ArmStandIn) -> None:
    # azure-core's default RetryPolicy retries any answer carrying Retry-After, and a POST's 500/503/504.
    stand_in.fail_next(503, count=3, retry_after="0")
    with pytest.raises(ArmError, match=r"ARM or Data Factory failed \(503\)"):
        client(stand_in.url).create_run("PL_backfill_company_activity", {"startDate": "2026-01-01"})
    assert len(stand_in.requests) == 1


def test_reads_retry_server_errors_three_attempts_in_all(stand_in: ArmStandIn) -> None:
    run_id = client(stand_in.url).create_run("PL_backfill_company_activity", {})
    stand_in.requests.clear()
    stand_in.fail_next(500, count=2, retry_after="0")
    assert client(stand_in.url).get_run(run_id).status == "Queued"
    assert len(stand_in.requests) == 3
    stand_in.requests.clear()
    stand_in.fail_next(502, count=3, retry_after="0")
    with pytest.raises(ArmError) as raised:
        client(stand_in.url).activity_runs(run_id, datetime.now(UTC), datetime.now(UTC))
    assert raised.value.status == 502 and len(stand_in.requests) == 3


def test_an_unreachable_arm_is_status_0(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK retries the connection as configured; its backoff sleeps (~2 s in all) are skipped.
    monkeypatch.setattr(HttpTransport, "sleep", lambda _self, _duration: None)
    with ArmStandIn() as arm:
        url = arm.url  # a loopback port nobody listens on once the stand-in is closed
    with pytest.raises(ArmError, match="ARM could not be reached") as raised:
        DataFactoryClient(FactoryRef.parse(FACTORY), RecordingCredential(), endpoint=url,
                          timeout_s=2).get_run("00000000-0000-0000-0000-000000000001")
    assert raised.value.status == 0 and isinstance(raised.value.__cause__, ServiceRequestError)


def test_the_token_is_never_sent_over_plain_http_to_another_host(stand_in: ArmStandIn,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HttpTransport, "sleep", lambda _self, _duration: None)  # as above
    credential = RecordingCredential()
    remote = DataFactoryClient(FactoryRef.parse(FACTORY), credential, endpoint="http://arm.example.invalid")
    with pytest.raises(ArmError) as raised:
        remote.get_run("00000000-0000-0000-0000-000000000001")
    assert raised.value.status == 0 and "non-TLS" in str(raised.value.__cause__)
    assert credential.scopes == []


def test_a_run_status_the_reference_does_not_list_is_an_error(stand_in: ArmStandIn) -> None:
    arm = client(stand_in.url)
    run_id = arm.create_run("PL_backfill_company_activity", {})
    assert arm.get_run(run_id).status == "Queued"
    stand_in.runs[run_id]["status"] = "Paused"
    with pytest.raises(ArmError, match=r"status 'Paused' is none of Queued, InProgress, Succeeded, Failed"):
        arm.get_run(run_id)
