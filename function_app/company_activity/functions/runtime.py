"""What the Functions handlers share: settings and the bronze container, loaded once per process, and JSON replies.

Settings are read lazily on the first invocation, not at import, so a bad setting never stops the host
from indexing the functions: it is logged by name on each invocation, HTTP endpoints answer 500
"server misconfigured: <SETTING>", and the timer and queue functions fail (and the queue retries).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import azure.functions as func
from azure.storage.blob import ContainerClient

from company_activity.errors import OperationalError
from company_activity.ingest.runner import bronze_container
from company_activity.settings import AppSettings, SettingsError

log = logging.getLogger("company_activity.functions")
# The SDK logs every storage request at INFO (headers redacted); that would drown the ingestion's own lines.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

_lock = threading.Lock()
_settings: AppSettings | None = None
_error: Misconfigured | None = None
_container: ContainerClient | None = None


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
    global _settings, _error, _container
    with _lock:
        _settings = _error = _container = None


def json_response(body: dict[str, Any], status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, indent=2), status_code=status, mimetype="application/json")


def misconfigured_response(error: Misconfigured) -> func.HttpResponse:
    """500 naming the setting only; the detail is in the log (it may describe a secret's shape)."""
    return json_response({"error": f"server misconfigured: {error.setting}"}, 500)
