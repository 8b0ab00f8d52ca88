"""A local HTTP stand-in of the three ARM operations the Functions app calls on Data Factory.

It is a real server on a loopback port. It serves only the documented shapes (REST reference, api-version
2018-06-01): POST .../pipelines/{name}/createRun, GET .../pipelineruns/{runId}, POST
.../pipelineruns/{runId}/queryActivityruns and POST .../queryPipelineRuns (filters PipelineName Equals and
Status In), and answers anything else 400 so a wrong URL fails the test. It records every request (method,
path, query, headers, JSON body). `fail_next(status, count, only=...)` makes the next requests (whose path
contains `only`, when given) answer with an ARM CloudError body.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FACTORY = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-ca-dev/providers/" \
          "Microsoft.DataFactory/factories/adf-ca-dev"
TOKEN = "arm-token-for-tests"
PREFIX = re.escape(FACTORY)
CREATE_RUN = re.compile(rf"^{PREFIX}/pipelines/(?P<pipeline>[^/]+)/createRun$")
GET_RUN = re.compile(rf"^{PREFIX}/pipelineruns/(?P<run>[^/]+)$")
QUERY_ACTIVITY_RUNS = re.compile(rf"^{PREFIX}/pipelineruns/(?P<run>[^/]+)/queryActivityruns$")
QUERY_PIPELINE_RUNS = re.compile(rf"^{PREFIX}/queryPipelineRuns$")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class ArmStandIn:
    requests: list[Recorded] = field(default_factory=list)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # runId -> PipelineRun body
    activity_pages: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)  # runId -> pages
    failures: list[tuple[int, dict[str, str], str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stand_in.handle(self, "GET")

            def do_POST(self) -> None:
                stand_in.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits up to one poll interval: 0.5 s by default, paid by every test that starts a stand-in.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ArmStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None, only: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.failures.extend([(status, headers, only)] * count)

    # -- serving ----------------------------------------------------------------------------------------
    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.requests.append(Recorded(method=method, path=parts.path, query=parse_qs(parts.query),
                                      headers={k.lower(): v for k, v in handler.headers.items()}, body=body))
        status, answer, headers = self.answer(method, parts.path, parse_qs(parts.query), handler.headers, body)
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def answer(self, method: str, path: str, query: dict[str, list[str]], headers: Any,
               body: Any) -> tuple[int, Any, dict[str, str]]:
        if query.get("api-version") != ["2018-06-01"]:
            return 400, cloud_error("InvalidApiVersionParameter", f"bad api-version {query.get('api-version')}"), {}
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, cloud_error("InvalidAuthenticationToken", "The access token is invalid."), {}
        for index, (status, extra, only) in enumerate(self.failures):
            if only is None or only in path:
                del self.failures[index]
                return status, cloud_error(f"Code{status}", f"stand-in answer {status}"), extra
        if method == "POST" and (match := CREATE_RUN.match(path)):
            if not isinstance(body, dict):
                return 400, cloud_error("BadRequest", "the body must be the parameters object"), {}
            run_id = str(uuid.uuid4())
            self.runs[run_id] = {"runId": run_id, "pipelineName": match["pipeline"], "parameters": body,
                                 "status": "Queued", "message": "", "runStart": None, "runEnd": None}
            return 200, {"runId": run_id}, {}
        if method == "GET" and (match := GET_RUN.match(path)):
            run = self.runs.get(match["run"])
            if run is None:
                return 404, cloud_error("PipelineRunNotFound", f"Pipeline run {match['run']} does not exist."), {}
            return 200, run, {}
        if method == "POST" and (match := QUERY_ACTIVITY_RUNS.match(path)):
            if not isinstance(body, dict) or not {"lastUpdatedAfter", "lastUpdatedBefore"} <= set(body):
                return 400, cloud_error("BadRequest", "lastUpdatedAfter and lastUpdatedBefore are required"), {}
            pages = self.activity_pages.get(match["run"], [[]])
            index = int(body.get("continuationToken") or 0)
            page: dict[str, Any] = {"value": pages[index]}
            if index + 1 < len(pages):
                page["continuationToken"] = str(index + 1)
            return 200, page, {}
        if method == "POST" and QUERY_PIPELINE_RUNS.match(path):
            return self.query_pipeline_runs(body)
        return 400, cloud_error("NoRoute", f"the stand-in has no {method} {path}"), {}

    def query_pipeline_runs(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        """RunFilterParameters: lastUpdatedAfter/Before required; filters PipelineName Equals, Status In."""
        if not isinstance(body, dict) or not {"lastUpdatedAfter", "lastUpdatedBefore"} <= set(body):
            return 400, cloud_error("BadRequest", "lastUpdatedAfter and lastUpdatedBefore are required"), {}
        runs = list(self.runs.values())
        for condition in body.get("filters") or []:
            operand, operator, values = condition.get("operand"), condition.get("operator"), condition.get("values")
            field_name = {"PipelineName": "pipelineName", "Status": "status"}.get(operand)
            if field_name is None or operator not in ("Equals", "In") or not isinstance(values, list) or \
                    (operator == "Equals" and len(values) != 1):
                return 400, cloud_error("BadRequest", f"unsupported filter {condition}"), {}
            runs = [run for run in runs if run.get(field_name) in values]
        return 200, {"value": runs}, {}


def cloud_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class RecordingCredential:
    """An azure-identity-shaped credential: records the scopes asked for and returns the stand-in's token."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(TOKEN, 4_102_444_800)
