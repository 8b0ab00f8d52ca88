"""The settings contract: every setting the Functions app reads, declared once and parsed once.

A setting is declared once, as a field of a small settings group (a frozen dataclass): its environment
name, its parser, its default, whether it is secret, and the sentence the docs show. `from_env()` of a
group is the only place that reads the environment. Commands compose the groups they need, so none has
to invent values for settings it does not use: `ingestions` reads `StorageSettings` and `DateSettings`,
`ingest` adds `IngestSettings`, the Functions app reads `AppSettings`, all of them.

Errors name the setting and the offending value, except for secrets, whose values are never echoed.
The settings table of README.md and `function_app/local.settings.json.example` are generated from these
declarations (`make settings-docs`; a test fails when they drift).

One rule for every setting of every CLI command: a non-empty environment variable, else the `Values` of
`function_app/local.settings.json`, else the default. `apply_local_settings()` implements the middle
step exactly as Functions Core Tools does for `func start` (a Values entry is skipped when the variable
is already set and non-empty), so the CLI and a local Functions host see the same settings.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from company_activity.errors import InputError
from company_activity.resource_ids import FactoryRef, ResourceIdError

# The Functions app root's local settings file (not committed; copy local.settings.json.example).
LOCAL_SETTINGS_FILE = Path(__file__).resolve().parents[1] / "local.settings.json"


class SettingsError(InputError):
    """A setting is missing or invalid; `setting` names it and so does the message."""

    def __init__(self, setting: str, message: str) -> None:
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


# -------------------------------------------------------------------------------------------- declaring


@dataclass(frozen=True)
class Raw:
    """A setting's text as read, with what an error message may show of it."""

    name: str
    text: str
    secret: bool = False

    def shown(self) -> str:
        return "<hidden>" if self.secret else repr(self.text)

    def error(self, message: str) -> SettingsError:
        return SettingsError(self.name, f"{self.name} {message}")


Parser = Callable[[Raw], Any]


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting as declared: environment name, parser, default text (None: required), secret, doc."""

    name: str
    parse: Parser = field(repr=False)
    default: str | None
    doc: str
    secret: bool = False
    example: str | None = None  # what local.settings.json.example sets when it is not the default

    def raw(self, env: Mapping[str, str]) -> str:
        """The non-empty value of the variable, else the default ("" when the setting is optional)."""
        value = env.get(self.name, "").strip()
        if value:
            return value
        if self.default is None:
            raise SettingsError(self.name, f"{self.name} is required: {self.doc}")
        return self.default

    def read(self, env: Mapping[str, str]) -> Any:
        return self.parse(Raw(self.name, self.raw(env), self.secret))


_SETTING = "company_activity.setting"
_GROUP = "company_activity.group"


def setting(name: str, parse: Parser, default: str | None, doc: str, *, secret: bool = False,
            example: str | None = None) -> Any:
    """A settings group field read from the environment variable `name`.

    `default` is the text used when the variable is unset or empty (None: the setting is required); the
    field's Python default is that text parsed, so a group can be built by hand with only its required
    fields."""
    spec = Setting(name=name, parse=parse, default=default, doc=doc, secret=secret, example=example)
    if default is None:
        return field(metadata={_SETTING: spec})
    return field(default=parse(Raw(name, default, secret)), metadata={_SETTING: spec})


def group(kind: type[SettingsGroup]) -> Any:
    """A settings group field that is itself a group, read with its own `from_env`. Built by hand, the field
    may be left out when the group's defaults make a valid group."""
    return field(default_factory=kind, metadata={_GROUP: kind})


@dataclass(frozen=True, kw_only=True)
class SettingsGroup:
    """Base of the frozen dataclasses that declare settings with `setting(...)` and `group(...)` fields."""

    @classmethod
    def declared(cls) -> tuple[Setting, ...]:
        """Every setting of the group and its sub-groups, in declaration order."""
        out: list[Setting] = []
        for item in fields(cls):
            if _SETTING in item.metadata:
                out.append(item.metadata[_SETTING])
            else:
                out.extend(item.metadata[_GROUP].declared())
        return tuple(out)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """The group read from `env` (default os.environ); SettingsError names the first bad setting."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for item in fields(cls):
            if _SETTING in item.metadata:
                values[item.name] = item.metadata[_SETTING].read(env)
            else:
                values[item.name] = item.metadata[_GROUP].from_env(env)
        return cls(**values)


# ---------------------------------------------------------------------------------------------- parsers


def text(raw: Raw) -> str:
    return raw.text


def secret(raw: Raw) -> Secret:
    return Secret(raw.text)


def optional(parse: Parser) -> Parser:
    """`parse`, except that an empty value (unset, no default) is None."""

    def parse_optional(raw: Raw) -> Any:
        return parse(raw) if raw.text else None

    return parse_optional


def whole(low: int, high: int) -> Parser:
    return _number(int, "a whole number", low, high)


def number(low: float, high: float) -> Parser:
    return _number(float, "a number", low, high)


def _number(kind: Callable[[str], Any], noun: str, low: float, high: float) -> Parser:
    def parse_number(raw: Raw) -> Any:
        try:
            value = kind(raw.text)
        except ValueError:
            raise raw.error(f"must be {noun}, got {raw.shown()}") from None
        if not low <= value <= high:
            raise raw.error(f"must be between {low} and {high}, got {raw.shown()}")
        return value

    return parse_number


def http_url(raw: Raw) -> str:
    """An http(s) URL with a host, without a trailing slash."""
    parsed = urlparse(raw.text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise raw.error(f"must be an http(s) URL, got {raw.shown()}")
    return raw.text.rstrip("/")


def is_loopback(host: str | None) -> bool:
    """localhost, or an address in 127.0.0.0/8 or ::1: traffic that never leaves the machine."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_url(name: str, value: str) -> str:
    """An https URL, or http to a loopback address only: these URLs receive the API key or a bearer token,
    which plain http would send in clear text (issue 22). SettingsError names `name`."""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(name, f"{name} must be an http(s) URL, got {value!r}")
    if parsed.scheme != "https" and not is_loopback(parsed.hostname):
        raise SettingsError(name, f"{name} must be an https URL (http is accepted for a loopback address only: "
                                  f"it would carry a secret in clear text), got {value!r}")
    return value


def https_url(raw: Raw) -> str:
    """`http_url`, and https unless the host is a loopback address (`secure_url`)."""
    return secure_url(raw.name, http_url(raw))


def api_key(name: str, value: str) -> str:
    """An API key of printable ASCII only (33-126). requests refuses a header value with a control character
    and echoes it with `!r` (escaped), which no scrubber looking for the key recognises; and a key is never
    meant to hold spaces or non-ASCII text. The message never shows the value."""
    bad = [i for i, c in enumerate(value) if not 33 <= ord(c) <= 126]
    if bad:
        raise SettingsError(name, f"{name} must be printable ASCII without spaces; character {bad[0] + 1} of "
                                  f"{len(value)} is not (a stray newline or tab from copying it?; value hidden)")
    return value


def secret_key(raw: Raw) -> Secret:
    return Secret(api_key(raw.name, raw.text))


def guid(raw: Raw) -> str:
    """Empty (not configured) or a GUID, lowercased as Entra writes it in tokens."""
    if raw.text and not re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", raw.text):
        raise raw.error(f"must be a GUID such as 00000000-0000-0000-0000-000000000000, got {raw.shown()}")
    return raw.text.lower()


def storage_name(raw: Raw) -> str:
    """A blob container or queue name: 3-63 lowercase letters, digits and single hyphens."""
    value = raw.text
    ok = (
        3 <= len(value) <= 63
        and value[0].isalnum()
        and value[-1].isalnum()
        and all(c.islower() or c.isdigit() or c == "-" for c in value)
        and "--" not in value
    )
    if not ok:
        raise raw.error(f"must be 3-63 lowercase letters, digits or single hyphens, got {raw.shown()}")
    return value


def ncrontab(raw: Raw) -> str:
    if len(raw.text.split()) != 6:
        raise raw.error(f"must be an NCRONTAB expression with 6 fields (second minute hour day month weekday), "
                        f"got {raw.shown()}")
    return raw.text


def time_zone(raw: Raw) -> ZoneInfo:
    try:
        return ZoneInfo(raw.text)
    except (ZoneInfoNotFoundError, ValueError):
        raise raw.error(f"must be an IANA time zone such as UTC or Europe/Berlin, got {raw.shown()}") from None


def boolean(raw: Raw) -> bool:
    lowered = raw.text.lower()
    if lowered not in ("true", "false"):
        raise raw.error(f"must be true or false, got {raw.shown()}")
    return lowered == "true"


def factory_id(raw: Raw) -> FactoryRef | None:
    if not raw.text:
        return None
    try:
        return FactoryRef.parse(raw.text)
    except ResourceIdError as exc:
        raise raw.error(str(exc)) from None


def storage_connection_string(raw: Raw) -> Secret:
    """A blob connection string checked as the Azure SDK will read it (`Key=Value;...`), so a malformed one
    stops at load time with an error naming the setting instead of a ValueError from the SDK at the first
    request. The value holds an account key: messages describe the problem, never the value."""
    name, value = raw.name, raw.text
    segments = value.strip().rstrip(";").split(";")
    pairs: dict[str, str] = {}
    for index, segment in enumerate(segments, start=1):
        key, sep, item = segment.partition("=")
        if not sep or not key.strip():
            raise SettingsError(name, f"{name} is malformed: part {index} of {len(segments)} is not Key=Value "
                                      "(expected e.g. UseDevelopmentStorage=true or "
                                      "DefaultEndpointsProtocol=...;AccountName=...;AccountKey=...;BlobEndpoint=...; "
                                      "value hidden)")
        pairs[key.strip().upper()] = item
    if pairs.get("USEDEVELOPMENTSTORAGE") == "true":
        return Secret(value)
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
    return Secret(value)


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PASSWORD_KEYS = {"pwd", "password"}


def object_ids(raw: Raw) -> frozenset[str]:
    """Comma-separated Entra object ids (GUIDs), lowercased; empty: none."""
    ids = [part.strip() for part in raw.text.split(",") if part.strip()]
    for item in ids:
        if not _GUID.fullmatch(item):
            raise SettingsError(raw.name, f"{raw.name}: {item!r} is not an Entra object id (a GUID)")
    return frozenset(item.lower() for item in ids)


def passwordless_connection_string(raw: Raw) -> str:
    """A connection string that signs in with an Entra identity: a password in it is refused (value hidden)."""
    keys = {part.split("=", 1)[0].strip().lower() for part in raw.text.split(";") if "=" in part}
    if keys & _PASSWORD_KEYS:
        raise raw.error("must not hold a password: use Authentication=ActiveDirectoryMSI (value hidden)")
    return raw.text


# ----------------------------------------------------------------------------------------------- groups


@dataclass(frozen=True, kw_only=True)
class UsageApiSettings(SettingsGroup):
    """Where the product usage API is and how to call it."""

    base_url: str = setting("USAGE_API_BASE_URL", https_url, None,
                            "Base URL of the product usage API: https (http only to a loopback address, e.g. the "
                            "local simulator).", example="http://127.0.0.1:8080")
    key: Secret = setting("USAGE_API_KEY", secret_key, None,
                          "API key sent as `X-API-Key`, printable ASCII; a Key Vault reference in Azure. Never logged.",
                          secret=True, example="local-dev-key")
    page_size: int = setting("USAGE_API_PAGE_SIZE", whole(1, 10_000), "1000",
                             "Records per page (`limit`), 1..10000.")
    timeout_s: float = setting("USAGE_API_TIMEOUT_S", number(0.1, 600.0), "30",
                               "Connect/read timeout of every request, seconds.")


@dataclass(frozen=True, kw_only=True)
class StorageSettings(SettingsGroup):
    """The blob account (a connection string locally, managed identity in Azure) and the bronze container."""

    connection_string: Secret | None = setting(
        "STORAGE_CONNECTION_STRING", optional(storage_connection_string), "",
        "Blob connection string (Azurite, local). Set this **or** `STORAGE_ACCOUNT_URL`. Never logged.",
        secret=True, example="UseDevelopmentStorage=true")
    account_url: str | None = setting(
        "STORAGE_ACCOUNT_URL", optional(https_url), "",
        "Blob endpoint for managed identity, e.g. `https://<account>.blob.core.windows.net` (Azure).")
    bronze_container: str = setting("BRONZE_CONTAINER", storage_name, "bronze", "Container of the bronze layer.")

    def __post_init__(self) -> None:
        if (self.connection_string is None) == (self.account_url is None):
            raise SettingsError(
                "STORAGE_CONNECTION_STRING",
                "set exactly one of STORAGE_CONNECTION_STRING (Azurite/local) and STORAGE_ACCOUNT_URL (Azure, "
                "managed identity)" + ("; both are set" if self.connection_string is not None else "; neither is set"),
            )


@dataclass(frozen=True, kw_only=True)
class DateSettings(SettingsGroup):
    """Which days exist: 'yesterday' in a time zone, and how long a range of days may be."""

    tz: ZoneInfo = setting("INGEST_TIMEZONE", time_zone, "UTC",
                           "IANA time zone that defines \"yesterday\" (the timer's day, the latest date any "
                           "command accepts).")
    max_days: int = setting("BACKFILL_MAX_DAYS", whole(1, 3660), "400",
                            "Largest range of days one backfill request or command may span.")


@dataclass(frozen=True, kw_only=True)
class IngestSettings(SettingsGroup):
    """What one day's ingestion needs: the API, the storage and the rejected share that still commits."""

    api: UsageApiSettings = group(UsageApiSettings)
    storage: StorageSettings = group(StorageSettings)
    reject_threshold: float = setting("REJECT_THRESHOLD", number(0.0, 1.0), "0.01",
                                      "Largest rejected share of a day's records that still commits the day.")


@dataclass(frozen=True, kw_only=True)
class TriggerSettings(SettingsGroup):
    """Binding expressions of the Functions triggers (%NAME%): they must exist as app settings."""

    ingest_schedule: str = setting("INGEST_SCHEDULE", ncrontab, "0 0 1 * * *",
                                   "NCRONTAB schedule of the daily timer (a binding expression: must exist as an "
                                   "app setting).")
    backfill_queue: str = setting("BACKFILL_QUEUE", storage_name, "usage-backfill",
                                  "Queue of backfill dates, one message per date (a binding expression: must exist "
                                  "as an app setting).")


@dataclass(frozen=True, kw_only=True)
class LoadSettings(SettingsGroup):
    """The backfill load: whether POST /api/backfill starts it, and the factory and ARM endpoint to use."""

    enabled: bool = setting("BACKFILL_LOAD_ENABLED", boolean, "true",
                            "`POST /api/backfill` also starts `PL_backfill_company_activity` for the range; "
                            "`false` ingests bronze only (for users who load from elsewhere).")
    factory: FactoryRef | None = setting(
        "DATA_FACTORY_RESOURCE_ID", factory_id, "",
        "Resource id of the factory that runs the load (`/subscriptions/<id>/resourceGroups/<rg>/providers/"
        "Microsoft.DataFactory/factories/<name>`); needed when the load is enabled, set by Bicep.")
    arm_endpoint: str = setting("ARM_ENDPOINT", https_url, "https://management.azure.com",
                                "Azure Resource Manager base URL of the load's REST calls, https (http only to a "
                                "loopback address: tests point it at a local stand-in); the token is always "
                                "requested for `https://management.azure.com/.default`.")


@dataclass(frozen=True, kw_only=True)
class AuthSettings(SettingsGroup):
    """Who may call the HTTP endpoints: Microsoft Entra access tokens of one tenant for one API (caller.py)."""

    tenant_id: str = setting("AUTH_TENANT_ID", guid, "",
                             "Microsoft Entra tenant whose access tokens the HTTP endpoints accept (set by Bicep); "
                             "the endpoints answer 500 while it is empty ([docs/security.md](docs/security.md)).")
    api_client_id: str = setting("AUTH_API_CLIENT_ID", guid, "",
                                 "Client id of the API's app registration, the audience of accepted tokens (set by "
                                 "Bicep from `API_CLIENT_ID`).")
    authority: str = setting("AUTH_AUTHORITY", https_url, "https://login.microsoftonline.com",
                             "Entra authority that issues the tokens and publishes their signing keys, https "
                             "(tests point it at a loopback stand-in).")


@dataclass(frozen=True, kw_only=True)
class DashboardSettings(SettingsGroup):
    """GET /api/dashboard: where the rpt views are read from, and who may look (docs/dashboard.md)."""

    sql_connection_string: str = setting(
        "DASHBOARD_SQL_CONNECTION_STRING", passwordless_connection_string, "",
        "`mssql-python` connection string of the warehouse `GET /api/dashboard` reads, as the dashboard's own "
        "identity (`Authentication=ActiveDirectoryMSI;UID=<client id>`, a member of `rpt_reader` only); a password "
        "is refused. Empty: the dashboard answers 503. Set by Bicep.")
    allowed_groups: frozenset[str] = setting(
        "DASHBOARD_ALLOWED_GROUPS", object_ids, "",
        "Object ids (comma-separated) of the Entra groups whose members may open the dashboard; the function "
        "checks them again behind App Service authentication.")
    allowed_users: frozenset[str] = setting(
        "DASHBOARD_ALLOWED_USERS", object_ids, "",
        "Object ids (comma-separated) of Entra users who may open it besides the groups' members.")


@dataclass(frozen=True, kw_only=True)
class AppSettings(SettingsGroup):
    """Every setting of the Functions app, read and checked once per process (functions/runtime.py)."""

    ingest: IngestSettings = group(IngestSettings)
    dates: DateSettings = group(DateSettings)
    triggers: TriggerSettings = group(TriggerSettings)
    load: LoadSettings = group(LoadSettings)
    auth: AuthSettings = group(AuthSettings)
    dashboard: DashboardSettings = group(DashboardSettings)


# The app settings in the order of the docs and of local.settings.json.example.
SETTINGS: tuple[Setting, ...] = AppSettings.declared()
SETTING_NAMES: tuple[str, ...] = tuple(s.name for s in SETTINGS)


def apply_local_settings(environ: MutableMapping[str, str] | None = None, path: Path | None = None) -> list[str]:
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
