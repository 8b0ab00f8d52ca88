"""The ingestion settings contract: every app setting the Functions app reads, parsed once.

`IngestSettings.from_env()` is the only place that reads these variables. Errors name the setting
and the offending value, except for secrets, whose values are never echoed.

One rule for every setting of every CLI command: a non-empty environment variable, else the `Values` of
`function_app/local.settings.json`, else the default. `apply_local_settings()` implements the middle
step exactly as Functions Core Tools does for `func start` (a Values entry is skipped when the variable
is already set and non-empty), so the CLI and a local Functions host see the same settings.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from company_activity.errors import InputError
from company_activity.resource_ids import FactoryRef

T = TypeVar("T")
# The Functions app root's local settings file (not committed; copy local.settings.json.example).
LOCAL_SETTINGS_FILE = Path(__file__).resolve().parents[1] / "local.settings.json"


class SettingsError(InputError, ValueError):
    """A setting is missing or invalid; `setting` names it and so does the message."""

    def __init__(self, setting: str, message: str):
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class SettingSpec:
    """One documented setting: name, default (None = required), whether it is secret."""

    name: str
    default: str | None
    description: str
    secret: bool = False


# The order here is the order of the docs and of local.settings.json.example.
SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("USAGE_API_BASE_URL", None, "Base URL of the product usage API (http or https)."),
    SettingSpec("USAGE_API_KEY", None, "API key sent as X-API-Key. A Key Vault reference in Azure.", True),
    SettingSpec("USAGE_API_PAGE_SIZE", "1000", "Records requested per page (`limit`), 1..10000."),
    SettingSpec("USAGE_API_TIMEOUT_S", "30", "Connect and read timeout of every API request, seconds."),
    SettingSpec(
        "STORAGE_CONNECTION_STRING",
        "",
        "Blob storage connection string (Azurite, local). Set this or STORAGE_ACCOUNT_URL.",
        True,
    ),
    SettingSpec(
        "STORAGE_ACCOUNT_URL",
        "",
        "Blob endpoint, e.g. https://<account>.blob.core.windows.net (Azure, managed identity).",
    ),
    SettingSpec("BRONZE_CONTAINER", "bronze", "Container that holds the bronze layer."),
    SettingSpec("INGEST_SCHEDULE", "0 0 1 * * *", "NCRONTAB schedule of the daily ingestion timer."),
    SettingSpec("INGEST_TIMEZONE", "UTC", "IANA time zone that defines 'yesterday' for the timer."),
    SettingSpec("BACKFILL_QUEUE", "usage-backfill", "Storage queue of backfill dates (one message per date)."),
    SettingSpec("BACKFILL_MAX_DAYS", "400", "Largest number of days one backfill request may span."),
    SettingSpec("REJECT_THRESHOLD", "0.01", "Largest rejected share of a day's records that still commits."),
    SettingSpec("BACKFILL_LOAD_ENABLED", "true",
                "Whether POST /api/backfill also starts the load (PL_backfill_company_activity); false: bronze only."),
    SettingSpec("DATA_FACTORY_RESOURCE_ID", "",
                "Resource id of the Data Factory that runs the backfill load; needed when the load is enabled."),
    SettingSpec("ARM_ENDPOINT", "https://management.azure.com",
                "Azure Resource Manager base URL the load is started through (a local stand-in in tests)."),
    SettingSpec("DASHBOARD_SQL_CONNECTION_STRING", "",
                "Connection string (mssql-python) of the warehouse GET /api/dashboard reads, as an identity that "
                "holds rpt_reader only; no password. Empty: the dashboard answers 503."),
    SettingSpec("DASHBOARD_ALLOWED_GROUPS", "",
                "Object ids (comma-separated) of the Entra groups whose members may open GET /api/dashboard."),
    SettingSpec("DASHBOARD_ALLOWED_USERS", "",
                "Object ids (comma-separated) of the Entra users who may open GET /api/dashboard."),
)
SETTING_NAMES: tuple[str, ...] = tuple(s.name for s in SETTINGS)


@dataclass(frozen=True)
class IngestSettings:
    usage_api_base_url: str
    usage_api_key: Secret
    usage_api_page_size: int = 1000
    usage_api_timeout_s: float = 30.0
    storage_connection_string: Secret | None = None
    storage_account_url: str | None = None
    bronze_container: str = "bronze"
    ingest_schedule: str = "0 0 1 * * *"
    ingest_timezone: str = "UTC"
    backfill_queue: str = "usage-backfill"
    backfill_max_days: int = 400
    reject_threshold: float = 0.01
    backfill_load_enabled: bool = True
    data_factory_resource_id: str = ""
    arm_endpoint: str = "https://management.azure.com"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.ingest_timezone)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IngestSettings:
        env = os.environ if env is None else env
        raw = {s.name: _raw(env, s) for s in SETTINGS}

        conn, url = raw["STORAGE_CONNECTION_STRING"], raw["STORAGE_ACCOUNT_URL"]
        if bool(conn) == bool(url):
            raise SettingsError(
                "STORAGE_CONNECTION_STRING",
                "set exactly one of STORAGE_CONNECTION_STRING (Azurite/local) and "
                "STORAGE_ACCOUNT_URL (Azure, managed identity)"
                + ("; both are set" if conn else "; neither is set")
            )
        return cls(
            usage_api_base_url=_http_url("USAGE_API_BASE_URL", raw["USAGE_API_BASE_URL"]).rstrip("/"),
            usage_api_key=Secret(raw["USAGE_API_KEY"]),
            usage_api_page_size=_number("USAGE_API_PAGE_SIZE", raw, int, 1, 10_000),
            usage_api_timeout_s=_number("USAGE_API_TIMEOUT_S", raw, float, 0.1, 600.0),
            storage_connection_string=Secret(storage_connection_string("STORAGE_CONNECTION_STRING", conn))
            if conn else None,
            storage_account_url=_http_url("STORAGE_ACCOUNT_URL", url) if url else None,
            bronze_container=_container("BRONZE_CONTAINER", raw["BRONZE_CONTAINER"]),
            ingest_schedule=_ncrontab("INGEST_SCHEDULE", raw["INGEST_SCHEDULE"]),
            ingest_timezone=_timezone("INGEST_TIMEZONE", raw["INGEST_TIMEZONE"]),
            backfill_queue=_container("BACKFILL_QUEUE", raw["BACKFILL_QUEUE"]),
            backfill_max_days=_number("BACKFILL_MAX_DAYS", raw, int, 1, 3660),
            reject_threshold=_number("REJECT_THRESHOLD", raw, float, 0.0, 1.0),
            backfill_load_enabled=_boolean("BACKFILL_LOAD_ENABLED", raw["BACKFILL_LOAD_ENABLED"]),
            data_factory_resource_id=_factory_id("DATA_FACTORY_RESOURCE_ID", raw["DATA_FACTORY_RESOURCE_ID"]),
            arm_endpoint=_http_url("ARM_ENDPOINT", raw["ARM_ENDPOINT"]).rstrip("/"),
        )


@dataclass(frozen=True)
class DashboardSettings:
    """What GET /api/dashboard needs besides the ingestion settings: where the rpt views are, and who may look."""

    sql_connection_string: str
    allowed_groups: frozenset[str]
    allowed_users: frozenset[str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DashboardSettings:
        env = os.environ if env is None else env
        specs = {s.name: s for s in SETTINGS}
        raw = {name: _raw(env, specs[name]) for name in
               ("DASHBOARD_SQL_CONNECTION_STRING", "DASHBOARD_ALLOWED_GROUPS", "DASHBOARD_ALLOWED_USERS")}
        return cls(
            sql_connection_string=_secret_free_connection_string(
                "DASHBOARD_SQL_CONNECTION_STRING", raw["DASHBOARD_SQL_CONNECTION_STRING"]),
            allowed_groups=_object_ids("DASHBOARD_ALLOWED_GROUPS", raw["DASHBOARD_ALLOWED_GROUPS"]),
            allowed_users=_object_ids("DASHBOARD_ALLOWED_USERS", raw["DASHBOARD_ALLOWED_USERS"]),
        )


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PASSWORD_KEYS = {"pwd", "password"}


def _object_ids(name: str, value: str) -> frozenset[str]:
    ids = [part.strip() for part in value.split(",") if part.strip()]
    for item in ids:
        if not _GUID.fullmatch(item):
            raise SettingsError(name, f"{name}: {item!r} is not an Entra object id (a GUID)")
    return frozenset(item.lower() for item in ids)


def _secret_free_connection_string(name: str, value: str) -> str:
    """The dashboard signs in with an Entra identity: a password in the setting is refused (value hidden)."""
    keys = {part.split("=", 1)[0].strip().lower() for part in value.split(";") if "=" in part}
    if keys & _PASSWORD_KEYS:
        raise SettingsError(name, f"{name} must not hold a password: use Authentication=ActiveDirectoryMSI "
                                  "(value hidden)")
    return value.strip()


def date_limits(env: Mapping[str, str] | None = None) -> tuple[ZoneInfo, int]:
    """(INGEST_TIMEZONE, BACKFILL_MAX_DAYS) alone, for the commands that load days without the API or storage
    settings (transform, pipeline run): they refuse the same future dates and over-long ranges as ingestion."""
    env = os.environ if env is None else env
    specs = {s.name: s for s in SETTINGS}
    raw = {name: _raw(env, specs[name]) for name in ("INGEST_TIMEZONE", "BACKFILL_MAX_DAYS")}
    zone = _timezone("INGEST_TIMEZONE", raw["INGEST_TIMEZONE"])
    return ZoneInfo(zone), _number("BACKFILL_MAX_DAYS", raw, int, 1, 3660)


def _raw(env: Mapping[str, str], spec: SettingSpec) -> str:
    value = env.get(spec.name, "").strip()
    if value:
        return value
    if spec.default is None:
        raise SettingsError(spec.name, f"{spec.name} is required: {spec.description}")
    return spec.default


def _show(name: str, value: str) -> str:
    secret = any(s.secret for s in SETTINGS if s.name == name)
    return "<hidden>" if secret else repr(value)


def _number(name: str, raw: Mapping[str, str], kind: Callable[[str], T], low: Any, high: Any) -> T:
    text = raw[name]
    try:
        value = kind(text)
    except ValueError:
        noun = {"int": "a whole number", "float": "a number"}.get(kind.__name__, f"a {kind.__name__}")
        raise SettingsError(name, f"{name} must be {noun}, got {text!r}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"{name} must be between {low} and {high}, got {text!r}")
    return value


def _http_url(name: str, value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(name, f"{name} must be an http(s) URL, got {_show(name, value)}")
    return value


def _container(name: str, value: str) -> str:
    # Blob container and queue names: 3-63 chars, lowercase letters, digits and single hyphens.
    ok = (
        3 <= len(value) <= 63
        and value[0].isalnum()
        and value[-1].isalnum()
        and all(c.islower() or c.isdigit() or c == "-" for c in value)
        and "--" not in value
    )
    if not ok:
        raise SettingsError(
            name,
            f"{name} must be 3-63 lowercase letters, digits or single hyphens, got {value!r}"
        )
    return value


def _ncrontab(name: str, value: str) -> str:
    fields = value.split()
    if len(fields) != 6:
        raise SettingsError(
            name,
            f"{name} must be an NCRONTAB expression with 6 fields "
            f"(second minute hour day month weekday), got {value!r}"
        )
    return value


def _timezone(name: str, value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"{name} must be an IANA time zone such as UTC or Europe/Berlin, got {value!r}"
        raise SettingsError(name, message) from None
    return value


def _boolean(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise SettingsError(name, f"{name} must be true or false, got {value!r}")
    return lowered == "true"


def _factory_id(name: str, value: str) -> str:
    if not value:
        return ""
    try:
        FactoryRef.parse(value)
    except ValueError as exc:
        raise SettingsError(name, f"{name} {exc}") from None
    return value


def storage_connection_string(name: str, value: str) -> str:
    """Check a blob connection string as the Azure SDK will read it (`Key=Value;...`), so a malformed one
    stops at load time with an error naming the setting instead of a ValueError from the SDK at the first
    request. The value holds an account key: messages describe the problem, never the value."""
    segments = [s for s in value.strip().rstrip(";").split(";")]
    pairs: dict[str, str] = {}
    for number, segment in enumerate(segments, start=1):
        key, sep, item = segment.partition("=")
        if not sep or not key.strip():
            raise SettingsError(name, f"{name} is malformed: part {number} of {len(segments)} is not Key=Value "
                                      "(expected e.g. UseDevelopmentStorage=true or "
                                      "DefaultEndpointsProtocol=...;AccountName=...;AccountKey=...;BlobEndpoint=...; "
                                      "value hidden)")
        pairs[key.strip().upper()] = item
    if pairs.get("USEDEVELOPMENTSTORAGE") == "true":
        return value
    if "ACCOUNTNAME" not in pairs and "BLOBENDPOINT" not in pairs:
        raise SettingsError(name, f"{name} names no account: it needs AccountName=... or BlobEndpoint=... "
                                  "(or UseDevelopmentStorage=true; value hidden)")
    if "BLOBENDPOINT" in pairs:
        endpoint = urlparse(pairs["BLOBENDPOINT"])
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise SettingsError(name, f"{name}: BlobEndpoint must be an http(s) URL (value hidden)")
    account_key = pairs.get("ACCOUNTKEY")
    if account_key is not None:
        try:
            base64.b64decode(account_key, validate=True)
        except (binascii.Error, ValueError):
            raise SettingsError(name, f"{name}: AccountKey is not valid base64 (a truncated or mistyped key?; "
                                      "value hidden)") from None
    elif "SHAREDACCESSSIGNATURE" not in pairs:
        raise SettingsError(name, f"{name} has no credential: it needs AccountKey=... or SharedAccessSignature=... "
                                  "(value hidden)")
    return value


def apply_local_settings(environ: dict[str, str] | Any = None, path: Path | None = None) -> list[str]:
    """Fill unset (or empty) variables of `environ` (default os.environ) from the file's `Values`.

    Returns the names taken from the file. A missing file changes nothing; an unreadable one raises
    SettingsError naming the file (values are never echoed: the file holds secrets).
    """
    environ = os.environ if environ is None else environ
    path = LOCAL_SETTINGS_FILE if path is None else path
    if not path.is_file():
        return []
    try:
        values = json.loads(path.read_text(encoding="utf-8-sig")).get("Values", {})
    except (OSError, ValueError, AttributeError) as exc:
        raise SettingsError(str(path), f"{path} is not a local.settings.json file: {type(exc).__name__}") from None
    if not isinstance(values, dict):
        raise SettingsError(str(path), f"{path}: \"Values\" must be an object of setting names to strings")
    taken = []
    for name, value in values.items():
        if not isinstance(value, str):
            raise SettingsError(name, f"{path}: Values.{name} must be a string")
        if not environ.get(name, "").strip():
            environ[name] = value
            taken.append(name)
    return taken
