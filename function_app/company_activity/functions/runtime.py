"""What the Functions handlers share: settings and the bronze container, loaded once per process, and JSON replies.

Settings are read lazily on the first invocation, not at import, so a bad setting never stops the host
from indexing the functions: it is logged by name on each invocation, HTTP endpoints answer 500
"server misconfigured: <SETTING>", and the timer and queue functions fail (and the queue retries).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

import azure.functions as func
from azure.storage.blob import ContainerClient

from company_activity.errors import OperationalError
from company_activity.functions.caller import Caller, KeysUnavailable, NotAuthenticated, TokenVerifier
from company_activity.ingest.runner import bronze_container
from company_activity.settings import AppSettings, DashboardSettings, SettingsError

log = logging.getLogger("company_activity.functions")
# The SDK logs every storage request at INFO (headers redacted); that would drown the ingestion's own lines.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

_lock = threading.Lock()
_settings: AppSettings | None = None
_error: Misconfigured | None = None
_container: ContainerClient | None = None
_verifier: TokenVerifier | None = None


class Misconfigured(OperationalError):
    """The app settings are invalid; `setting` names the first setting the error mentions."""

    def __init__(self, setting: str, detail: str) -> None:
        super().__init__(f"server misconfigured: {setting}: {detail}")
        self.setting = setting


class IngestionFailed(OperationalError):
    """An ingestion did not commit; raised so the host records a failure (and a queue message is retried)."""


def settings() -> AppSettings:
    """AppSettings.from_env(), once per process; Misconfigured (logged) when a setting is invalid."""
    global _settings, _error
    with _lock:
        if _settings is None and _error is None:
            try:
                _settings = AppSettings.from_env()
            except SettingsError as exc:
                _error = Misconfigured(exc.setting, str(exc))
        if _error is not None:
            log.error("%s", _error)
            raise _error
        assert _settings is not None
        return _settings


def dashboard_settings() -> DashboardSettings:
    """DashboardSettings.from_env() on every call (three settings, cheap); Misconfigured (logged) when invalid."""
    try:
        return DashboardSettings.from_env()
    except SettingsError as exc:
        error = Misconfigured(exc.setting, str(exc))
        log.error("%s", error)
        raise error from None


def container() -> ContainerClient:
    """The bronze container client, built once per process (its credential caches tokens)."""
    global _container
    current = settings()
    with _lock:
        if _container is None:
            _container = bronze_container(current.ingest.storage)
        return _container


def reset() -> None:
    """Forget the loaded settings and clients (tests; a real host restarts when app settings change)."""
    global _settings, _error, _container, _verifier
    with _lock:
        _settings = _error = _container = _verifier = None


def json_response(body: dict[str, Any], status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, indent=2), status_code=status, mimetype="application/json")


def misconfigured_response(error: Misconfigured) -> func.HttpResponse:
    """500 naming the setting only; the detail is in the log (it may describe a secret's shape)."""
    return json_response({"error": f"server misconfigured: {error.setting}"}, 500)


def error_response(status: int, message: str, detail: str | None = None, **extra: Any) -> func.HttpResponse:
    """A generic error answer with a correlation id; `detail` (ARM's message, resource names, the exception)
    goes to the log under the same id and never to the caller."""
    correlation_id = uuid.uuid4().hex
    if detail is not None:
        log.error("%s [correlation id %s]: %s", message, correlation_id, detail)
    return json_response({"error": message, **extra, "correlation_id": correlation_id}, status)


def verifier(current: AppSettings) -> TokenVerifier:
    """The token verifier of the configured tenant and API, built once per process (it caches signing keys)."""
    global _verifier
    with _lock:
        auth = current.auth
        if _verifier is None or (_verifier.tenant_id, _verifier.audience) != (auth.tenant_id, auth.api_client_id):
            _verifier = TokenVerifier(auth.tenant_id, auth.api_client_id, auth.authority)
        return _verifier


def authorize(req: func.HttpRequest, current: AppSettings, *roles: str) -> Caller | func.HttpResponse:
    """The verified caller when it holds every role in `roles`, else the answer to send: 401 without a valid
    token, 403 without a role, 500 when AUTH_* is not configured, 503 when the signing keys cannot be read.
    Every decision is logged with the caller's object id (never the token)."""
    for name, value in (("AUTH_TENANT_ID", current.auth.tenant_id), ("AUTH_API_CLIENT_ID", current.auth.api_client_id)):
        if not value:
            log.error("server misconfigured: %s is empty, so no caller can be authenticated", name)
            return json_response({"error": f"server misconfigured: {name}"}, 500)
    try:
        caller = verifier(current).caller(req.headers.get("Authorization"))
    except NotAuthenticated as exc:
        response = error_response(401, "authentication required: a Microsoft Entra access token for this API",
                                  f"{req.method} {req.url}: {exc}")
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    except KeysUnavailable as exc:
        return error_response(503, "cannot verify tokens right now; try again later", str(exc))
    missing = [role for role in roles if not caller.may(role)]
    if missing:
        log.warning("refused %s %s for %s (%s): lacks app role %s", req.method, req.url, caller.object_id,
                    caller.name, ", ".join(missing))
        return json_response({"error": f"forbidden: this needs the app role {', '.join(missing)}"}, 403)
    log.info("caller %s (%s) %s %s", caller.object_id, caller.name, req.method, req.url)
    return caller
