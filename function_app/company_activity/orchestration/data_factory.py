"""The Data Factory REST API calls the Functions app makes: start a pipeline run, read it, read its activity runs.

Plain `requests` against ARM (api-version 2018-06-01) rather than azure-mgmt-datafactory: the SDK is a
large dependency of the deployed worker for three calls, and the HTTP contract (URL, body, status codes)
is what the tests pin against a local ARM stand-in. The bearer token comes from an azure-identity
credential for `https://management.azure.com/.default`; in Azure that is the Function App's managed
identity (see `default_credential`).

Errors: every non-2xx answer becomes `ArmError` with ARM's status, error code and message and a sentence
saying what it means for this app (no permission, factory missing, throttled, ARM down). The token never
appears in an error or a log line. Only 429 is retried for createRun (a 5xx may have created the run:
POST createRun is not idempotent); reads retry 429 and 5xx.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from company_activity.resource_ids import FactoryRef

log = logging.getLogger(__name__)

API_VERSION = "2018-06-01"
ARM_SCOPE = "https://management.azure.com/.default"
DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
TIMEOUT_S = 30.0
ATTEMPTS = 3
MAX_RETRY_AFTER_S = 10.0
# PipelineRun.status values (REST reference "Pipeline Runs - Get", PipelineRun definition).
RUN_STATUSES = ("Queued", "InProgress", "Succeeded", "Failed", "Canceling", "Cancelled")


class TokenCredential(Protocol):
    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


class ArmError(RuntimeError):
    """ARM answered with an error (or could not be reached: status 0)."""

    def __init__(self, status: int, code: str, message: str, meaning: str, retry_after: float | None = None) -> None:
        self.status, self.code, self.arm_message, self.meaning = status, code, message, meaning
        self.retry_after = retry_after  # seconds ARM asked to wait (Retry-After), capped
        shown = f"ARM {status}" if status else "ARM unreachable"
        super().__init__(f"{meaning} ({shown}{' ' + code if code else ''}: {message})")


def _meaning(status: int, what: str) -> str:
    if status == 401:
        return f"{what}: ARM refused the identity's token (401): the Function App's managed identity is not " \
               "enabled or its token is for another tenant"
    if status == 403:
        return f"{what}: the Function App's identity has no permission on the factory (403): it needs the custom " \
               "role 'Company activity backfill starter (<resource group>)' on the factory (defined once by an " \
               "administrator, infra/deploy.sh --create-role; assigned by infra/modules/backfill-load-role.bicep)"
    if status == 404:
        return f"{what}: the factory or pipeline does not exist (404): check DATA_FACTORY_RESOURCE_ID and that " \
               "the pipeline is published"
    if status == 429:
        return f"{what}: ARM is throttling requests (429); try again in a minute"
    if status >= 500:
        return f"{what}: ARM or Data Factory failed ({status}); try again later"
    if status == 0:
        return f"{what}: ARM could not be reached"
    return f"{what}: ARM rejected the request ({status})"


@dataclass(frozen=True)
class PipelineRun:
    run_id: str
    pipeline_name: str
    status: str
    parameters: dict[str, Any]
    message: str
    run_start: str | None
    run_end: str | None

    @classmethod
    def from_arm(cls, body: Mapping[str, Any]) -> PipelineRun:
        return cls(str(body.get("runId", "")), str(body.get("pipelineName", "")), str(body.get("status", "")),
                   dict(body.get("parameters") or {}), str(body.get("message") or ""),
                   body.get("runStart"), body.get("runEnd"))


def default_credential() -> TokenCredential:
    """DefaultAzureCredential, as storage.py uses for Blob. In the Function App it resolves to the
    system-assigned managed identity (the app sets no AZURE_CLIENT_SECRET/AZURE_TENANT_ID, so the
    environment credential is skipped); on a laptop running `func start` it falls back to `az login`."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


class DataFactoryClient:
    """createRun, Pipeline Runs - Get and Activity Runs - Query By Pipeline Run, for one factory."""

    def __init__(self, factory: FactoryRef, credential: TokenCredential, *,
                 endpoint: str = DEFAULT_ARM_ENDPOINT, session: requests.Session | None = None,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.factory = factory
        self.credential = credential
        self.endpoint = endpoint.rstrip("/")
        self.session = session or requests.Session()
        self.timeout_s = timeout_s

    def url(self, suffix: str) -> str:
        return f"{self.endpoint}{self.factory.path}/{suffix}?api-version={API_VERSION}"

    def create_run(self, pipeline: str, parameters: Mapping[str, Any]) -> str:
        """Start `pipeline` with `parameters` (the request body); the new run's id."""
        body = self._call("POST", f"pipelines/{pipeline}/createRun", dict(parameters),
                          what=f"cannot start pipeline {pipeline}", retry_server_errors=False)
        run_id = body.get("runId")
        if not isinstance(run_id, str) or not run_id:
            raise ArmError(200, "", "no runId in the answer", f"cannot start pipeline {pipeline}")
        return run_id

    def get_run(self, run_id: str) -> PipelineRun:
        return PipelineRun.from_arm(self._call("GET", f"pipelineruns/{run_id}", None,
                                               what=f"cannot read pipeline run {run_id}"))

    def activity_runs(self, run_id: str, after: datetime, before: datetime,
                      activity_name: str | None = None) -> list[dict[str, Any]]:
        """Activity runs of one pipeline run updated in [after, before], every page."""
        query: dict[str, Any] = {"lastUpdatedAfter": _instant(after), "lastUpdatedBefore": _instant(before)}
        if activity_name is not None:
            query["filters"] = [{"operand": "ActivityName", "operator": "Equals", "values": [activity_name]}]
        runs: list[dict[str, Any]] = []
        while True:
            page = self._call("POST", f"pipelineruns/{run_id}/queryActivityruns", query,
                              what=f"cannot read the activity runs of pipeline run {run_id}")
            runs.extend(page.get("value") or [])
            token = page.get("continuationToken")
            if not token:
                return runs
            query = {**query, "continuationToken": token}

    # -- one request -----------------------------------------------------------------------------------
    def _call(self, method: str, suffix: str, body: Any, *, what: str,
              retry_server_errors: bool = True) -> dict[str, Any]:
        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, ArmError) and (exc.status == 429 or (retry_server_errors and exc.status >= 500))

        retrying = Retrying(stop=stop_after_attempt(ATTEMPTS), wait=_wait_retry_after,
                            retry=retry_if_exception(retryable), reraise=True)
        return retrying(self._once, method, suffix, body, what)

    def _once(self, method: str, suffix: str, body: Any, what: str) -> dict[str, Any]:
        token = self.credential.get_token(ARM_SCOPE).token
        try:
            response = self.session.request(method, self.url(suffix), json=body, timeout=self.timeout_s,
                                            headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException as exc:
            raise ArmError(0, "", type(exc).__name__, _meaning(0, what)) from None
        if 200 <= response.status_code < 300:
            try:
                parsed = response.json()
            except ValueError:
                raise ArmError(response.status_code, "", "the answer is not JSON", _meaning(response.status_code,
                                                                                           what)) from None
            return parsed if isinstance(parsed, dict) else {}
        code, message = _cloud_error(response)
        raise ArmError(response.status_code, code, message, _meaning(response.status_code, what),
                       _retry_after(response))


def _cloud_error(response: requests.Response) -> tuple[str, str]:
    """ARM's CloudError body {"error": {"code", "message"}}; the first 300 characters of anything else."""
    try:
        error = response.json().get("error") or {}
        return str(error.get("code") or ""), str(error.get("message") or "")[:500]
    except (ValueError, AttributeError):
        return "", response.text[:300]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return min(float(value), MAX_RETRY_AFTER_S)
    except ValueError:
        return None


def _wait_retry_after(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    after = exc.retry_after if isinstance(exc, ArmError) else None
    return after if after is not None else min(2.0 ** (state.attempt_number - 1), MAX_RETRY_AFTER_S)


def _instant(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def query_window(run: PipelineRun, now: datetime) -> tuple[datetime, datetime]:
    """lastUpdatedAfter/Before for a run's activity runs: from a day before its start to a minute from now."""
    start = _parse_instant(run.run_start) if run.run_start else None
    return ((start or now) - timedelta(days=1), now + timedelta(minutes=1))


def _parse_instant(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
