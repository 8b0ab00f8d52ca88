"""The Data Factory REST API calls the Functions app makes: start a pipeline run, read it, read its activity runs.

An azure-core `PipelineClient` against ARM (api-version 2018-06-01) rather than azure-mgmt-datafactory:
the SDK is a large dependency of the deployed worker for three calls, and the HTTP contract (URL, body,
status codes) is what the tests pin against a local ARM stand-in. The pipeline is azure-core's own:
`BearerTokenCredentialPolicy` asks an azure-identity credential for `https://management.azure.com/.default`
(in Azure the Function App's managed identity, see `default_credential`) and caches the token;
`RetryPolicy` retries, with this client's rules (`ArmRetryPolicy`): 429 always, after ARM's Retry-After
(capped at MAX_RETRY_AFTER_S); a 5xx only for reads, since POST createRun is not idempotent and a 5xx may
come after the run was created.

Errors: every non-2xx answer raises azure-core's `HttpResponseError` (ARM's CloudError body parsed into
its `error.code` / `error.message`), which surfaces as `ArmError`, an `OperationalError` with ARM's status,
code and message and a sentence saying what it means for this app (no permission, factory missing,
throttled, ARM down); the azure-core error is its `__cause__`. The token never appears in an error or a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, get_args
from urllib.parse import urlsplit

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import (
    BearerTokenCredentialPolicy,
    HttpLoggingPolicy,
    RetryPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse

from company_activity.errors import OperationalError
from company_activity.resource_ids import FactoryRef

log = logging.getLogger(__name__)

API_VERSION: Final = "2018-06-01"
ARM_SCOPE: Final = "https://management.azure.com/.default"
DEFAULT_ARM_ENDPOINT: Final = "https://management.azure.com"
TIMEOUT_S: Final = 30.0
ATTEMPTS: Final = 3
MAX_RETRY_AFTER_S: Final = 10.0
USER_AGENT: Final = "company-activity-pipeline"
# PipelineRun.status values (REST reference "Pipeline Runs - Get", PipelineRun definition).
RunStatus = Literal["Queued", "InProgress", "Succeeded", "Failed", "Canceling", "Cancelled"]
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)


class ArmError(OperationalError):
    """ARM answered with an error (or could not be reached: status 0); the azure-core error is `__cause__`."""

    def __init__(self, status: int, code: str, message: str, meaning: str) -> None:
        self.status, self.code, self.arm_message, self.meaning = status, code, message, meaning
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


@dataclass(frozen=True, kw_only=True)
class PipelineRun:
    run_id: str
    pipeline_name: str
    status: RunStatus
    parameters: dict[str, Any]
    message: str
    run_start: str | None
    run_end: str | None

    @classmethod
    def from_arm(cls, body: Mapping[str, Any]) -> PipelineRun:
        run_id, status = str(body.get("runId", "")), body.get("status")
        if status not in RUN_STATUSES:
            raise ArmError(200, "", f"status {status!r} is none of {', '.join(RUN_STATUSES)}",
                           f"cannot read pipeline run {run_id}")
        return cls(run_id=run_id, pipeline_name=str(body.get("pipelineName", "")),
                   status=status, parameters=dict(body.get("parameters") or {}),
                   message=str(body.get("message") or ""), run_start=body.get("runStart"),
                   run_end=body.get("runEnd"))


def default_credential() -> TokenCredential:
    """DefaultAzureCredential, as storage.py uses for Blob. In the Function App it resolves to the
    system-assigned managed identity (the app sets no AZURE_CLIENT_SECRET/AZURE_TENANT_ID, so the
    environment credential is skipped); on a laptop running `func start` it falls back to `az login`."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def _creates_run(request: Any) -> bool:
    return str(request.method).upper() == "POST" and urlsplit(str(request.url)).path.endswith("/createRun")


class ArmRetryPolicy(RetryPolicy[HttpRequest, HttpResponse]):
    """azure-core's RetryPolicy with this client's rules (the default would retry a POST's 500/503/504 and
    any status that carries a Retry-After): 429 is retried for every call; 5xx for reads only."""

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        if not settings["total"]:
            return False
        status: int = response.http_response.status_code
        return status == 429 or (status >= 500 and not _creates_run(response.http_request))

    def get_retry_after(self, response: PipelineResponse[Any, Any]) -> float | None:
        after = super().get_retry_after(response)
        return None if after is None else min(after, MAX_RETRY_AFTER_S)

    def sleep(self, settings: dict[str, Any], transport: HttpTransport[Any, Any],
              response: PipelineResponse[Any, Any] | None = None) -> None:
        after = self.get_retry_after(response) if response is not None else None
        if after is None:
            super().sleep(settings, transport, response)
        elif after > 0:  # "Retry-After: 0" means now; azure-core would fall back to its backoff
            transport.sleep(after)


def _is_loopback_http(endpoint: str) -> bool:
    parts = urlsplit(endpoint)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


class DataFactoryClient:
    """createRun, Pipeline Runs - Get and Activity Runs - Query By Pipeline Run, for one factory."""

    def __init__(self, factory: FactoryRef, credential: TokenCredential, *,
                 endpoint: str = DEFAULT_ARM_ENDPOINT, timeout_s: float = TIMEOUT_S) -> None:
        self.factory = factory
        self.endpoint = endpoint.rstrip("/")
        self._client: PipelineClient[HttpRequest, HttpResponse] = PipelineClient(
            self.endpoint,
            policies=[
                UserAgentPolicy(USER_AGENT),
                ArmRetryPolicy(retry_total=ATTEMPTS - 1, retry_backoff_factor=1.0,
                               retry_backoff_max=int(MAX_RETRY_AFTER_S)),
                BearerTokenCredentialPolicy(credential, ARM_SCOPE),
                HttpLoggingPolicy(),  # logs method, URL and status; redacts the Authorization header
            ],
            connection_timeout=timeout_s, read_timeout=timeout_s,
        )
        # Bearer tokens go over TLS only; the one exception is a stand-in on this machine (tests).
        self._options: dict[str, Any] = {"enforce_https": False} if _is_loopback_http(self.endpoint) else {}

    def close(self) -> None:
        self._client.close()

    def url(self, suffix: str) -> str:
        return f"{self.endpoint}{self.factory.path}/{suffix}?api-version={API_VERSION}"

    def create_run(self, pipeline: str, parameters: Mapping[str, Any]) -> str:
        """Start `pipeline` with `parameters` (the request body); the new run's id."""
        what = f"cannot start pipeline {pipeline}"
        body = self._call("POST", f"pipelines/{pipeline}/createRun", dict(parameters), what=what)
        run_id = body.get("runId")
        if not isinstance(run_id, str) or not run_id:
            raise ArmError(200, "", "no runId in the answer", what)
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

    def query_runs(self, pipeline: str, statuses: Sequence[str], after: datetime,
                   before: datetime) -> list[PipelineRun]:
        """Runs of `pipeline` whose status is one of `statuses`, last updated in [after, before], every page
        (Pipeline Runs - Query By Factory)."""
        query: dict[str, Any] = {
            "lastUpdatedAfter": _instant(after), "lastUpdatedBefore": _instant(before),
            "filters": [{"operand": "PipelineName", "operator": "Equals", "values": [pipeline]},
                        {"operand": "Status", "operator": "In", "values": list(statuses)}],
        }
        runs: list[PipelineRun] = []
        while True:
            page = self._call("POST", "queryPipelineRuns", query, what=f"cannot list the runs of {pipeline}")
            runs.extend(PipelineRun.from_arm(body) for body in page.get("value") or [] if isinstance(body, dict))
            token = page.get("continuationToken")
            if not token:
                return runs
            query = {**query, "continuationToken": token}

    # -- one request (retried by the pipeline's ArmRetryPolicy) ------------------------------------------
    def _call(self, method: str, suffix: str, body: Any, *, what: str) -> dict[str, Any]:
        request = HttpRequest(method, self.url(suffix), json=body)
        try:
            response = self._client.send_request(request, **self._options)
            response.raise_for_status()
        except HttpResponseError as exc:
            status = exc.status_code or 0
            error = exc.error
            code = (error.code or "") if error is not None else ""
            message = (error.message or "")[:500] if error is not None else _text(exc)
            raise ArmError(status, code, message, _meaning(status, what)) from exc
        except AzureError as exc:  # no answer: DNS, refused connection, timeout
            raise ArmError(0, "", type(exc).__name__, _meaning(0, what)) from exc
        try:
            parsed = response.json()
        except ValueError:
            raise ArmError(response.status_code, "", "the answer is not JSON",
                           _meaning(response.status_code, what)) from None
        return parsed if isinstance(parsed, dict) else {}


def _text(exc: HttpResponseError) -> str:
    """The first 300 characters of an answer that is not a CloudError (a proxy's HTML page, say)."""
    return exc.response.text()[:300] if exc.response is not None else ""


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
