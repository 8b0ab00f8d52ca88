"""The Web activity: a real HTTP call, except Key Vault secret reads, which are answered locally.

A GET of `https://<vault>.vault.azure.net/secrets/<name>[/<version>]` authenticated with the factory's
managed identity (`authentication: {type: MSI, resource: https://vault.azure.net}`) returns what Key
Vault would, `{"value": ...}`, with SLACK_WEBHOOK_URL as the value; without that authentication it
fails with 401 as Key Vault would. Errors never show a URL's path or query (a webhook's secret lives
there), only its scheme, host and port.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import requests

from company_activity_local.pipeline.context import ActivityContext, timespan_seconds
from company_activity_local.pipeline.results import ActivityFailed, UnsupportedFeature

KEY_VAULT_RESOURCE = "https://vault.azure.net"
DEFAULT_HTTP_TIMEOUT = "00:01:00"
_KEY_VAULT_SECRET = re.compile(r"https://([a-z0-9-]{3,24})\.vault\.azure\.net(?::443)?/secrets/([A-Za-z0-9-]{1,127})"
                               r"(?:/([0-9a-f]{32}))?/?")
_METHODS = {"GET", "POST", "PUT", "DELETE"}
_KEYS = {"url", "method", "headers", "body", "authentication", "httpRequestTimeout", "disableCertValidation",
         "turnOffAsync", "datasets", "linkedServices", "connectVia"}


def run_web(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, _KEYS, "typeProperties")
    for unsupported in ("datasets", "linkedServices", "connectVia"):
        if ctx.type_properties.get(unsupported):
            raise UnsupportedFeature(f"Web '{ctx.name}': {unsupported} is not implemented locally")
    url = ctx.prop("url")
    method = str(ctx.prop("method", "GET")).upper()
    if not isinstance(url, str) or urlparse(url).scheme not in ("http", "https"):
        raise ActivityFailed(f"Web '{ctx.name}': url must evaluate to an http(s) URL, got {_safe(url)}",
                             retryable=False)
    if method not in _METHODS:
        raise ActivityFailed(f"Web '{ctx.name}': method must be one of {sorted(_METHODS)}, got {method!r}",
                             retryable=False)
    auth = ctx.prop("authentication") or {}
    secret = _KEY_VAULT_SECRET.fullmatch(url.split("?", 1)[0])
    if secret is not None:
        return _key_vault(ctx, method, auth, vault=secret.group(1), name=secret.group(2))
    if auth:
        raise UnsupportedFeature(f"Web '{ctx.name}': authentication {auth.get('type')!r} for a URL other than a Key "
                                 "Vault secret is not implemented locally")
    headers = _headers(ctx, ctx.prop("headers") or {})
    body = ctx.prop("body")
    if method != "GET" and body is None:
        raise ActivityFailed(f"Web '{ctx.name}': {method} needs a body", retryable=False)
    data = None if body is None else body if isinstance(body, str) else json.dumps(body)
    if data is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    timeout = min(timespan_seconds(ctx.prop("httpRequestTimeout", DEFAULT_HTTP_TIMEOUT), "httpRequestTimeout"),
                  max(ctx.remaining(), 0.1))
    verify = not bool(ctx.prop("disableCertValidation", False))
    try:
        response = ctx.resources.http.request(method, url, headers=headers, data=data.encode() if data else None,
                                              timeout=timeout, verify=verify)
    except requests.Timeout:
        raise ActivityFailed(f"Web '{ctx.name}': {method} {_safe(url)} timed out after {timeout:g}s",
                             "WebActivityTimeout") from None
    except requests.RequestException as exc:
        raise ActivityFailed(f"Web '{ctx.name}': {method} {_safe(url)} failed: {_reason(exc)}",
                             "WebActivityConnectionFailed") from None
    if not 200 <= response.status_code < 300:
        raise ActivityFailed(
            f"Web '{ctx.name}': {method} {_safe(url)} answered {response.status_code}: {response.text[:200]!r}",
            str(response.status_code),
        )
    return _output(ctx, method, url, response)


def _key_vault(ctx: ActivityContext, method: str, auth: Mapping[str, Any], *, vault: str, name: str) -> Any:
    if method != "GET":
        raise UnsupportedFeature(f"Web '{ctx.name}': only GET of a Key Vault secret is served locally, got {method}")
    resource = str(auth.get("resource", "")).rstrip("/")
    if auth.get("type") not in ("MSI", "SystemAssignedManagedIdentity") or resource != KEY_VAULT_RESOURCE:
        raise ActivityFailed(
            f"Web '{ctx.name}': Key Vault {vault} answered 401: the request needs managed-identity authentication "
            f"with resource {KEY_VAULT_RESOURCE} (got {dict(auth) or 'none'})", "401", retryable=False,
        )
    value = ctx.resources.slack_webhook_url(name)
    return {
        "value": value,
        "id": f"https://{vault}.vault.azure.net/secrets/{name}/local",
        "attributes": {"enabled": True},
        "ADFWebActivityResponseHeaders": {"Content-Type": "application/json; charset=utf-8"},
    }


def _headers(ctx: ActivityContext, raw: Any) -> dict[str, str]:
    if isinstance(raw, list):  # newer ADF JSON: [{"name": ..., "value": ...}]
        raw = {h.get("name"): h.get("value") for h in raw if isinstance(h, Mapping)}
    if not isinstance(raw, Mapping):
        raise ActivityFailed(f"Web '{ctx.name}': headers must be an object", retryable=False)
    return {str(k): str(v) for k, v in raw.items()}


def _output(ctx: ActivityContext, method: str, url: str, response: requests.Response) -> Any:
    """The response body as the activity's output. "Web activity" documents a JSON object as the only
    supported response body (arrays, bare values and non-JSON are "Unsupported") without saying what
    happens otherwise; the stricter reading fails the activity, after the request was delivered."""
    headers = dict(response.headers)
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        kind = "a JSON " + type(parsed).__name__ if parsed is not None else (
            f"a non-JSON body ({response.headers.get('Content-Type') or 'no Content-Type'})")
        raise ActivityFailed(
            f"Web '{ctx.name}': {method} {_safe(url)} answered {response.status_code} with {kind}; the Web activity "
            "supports only a JSON object response body (the request itself was sent)", "WebActivityInvalidResponse")
    return {**parsed, "ADFWebActivityResponseHeaders": headers}


def _safe(url: Any) -> str:
    """scheme://host:port only: a webhook URL's path is its secret."""
    if not isinstance(url, str):
        return repr(type(url).__name__)
    parsed = urlparse(url)
    if not parsed.hostname:
        return "<not a URL>"
    try:
        port = f":{parsed.port}" if parsed.port else ""
    except ValueError:
        port = ""
    return f"{parsed.scheme}://{parsed.hostname}{port}/..."


def _reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectionError):
        return "connection failed (refused, reset or unreachable)"
    return type(exc).__name__
