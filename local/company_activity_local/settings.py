"""Settings only the local tools read: the warehouse a command uses, what a local pipeline run maps the
factory's linked services to, and how the background services start.

Declared like the app's settings (`company_activity.settings`: one field per setting with its environment
name, parser, default, secrecy and doc) and read by the same rule (environment, else the `Values` of
`function_app/local.settings.json`, else the default). The settings table of docs/local.md is generated
from these declarations (`make settings-docs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from company_activity.settings import (
    Raw,
    Secret,
    Setting,
    SettingsError,
    SettingsGroup,
    group,
    http_url,
    optional,
    secret,
    setting,
    storage_connection_string,
    whole,
)

DEFAULT_OUT_DIR = Path("out")
WAREHOUSE_FILE = "warehouse.duckdb"
DEFAULT_WAREHOUSE_PATH = DEFAULT_OUT_DIR / WAREHOUSE_FILE


def duckdb_file(raw: Raw) -> Path:
    path = Path(raw.text)
    if path.is_dir():
        raise raw.error(f"must be a DuckDB file path, got the directory {raw.text!r}")
    return path


def folder(raw: Raw) -> Path:
    """A folder path (created by the commands that write into it)."""
    return Path(raw.text)


def secret_url(raw: Raw) -> Secret:
    return Secret(http_url(raw))


def switch(raw: Raw) -> bool:
    """1/true or 0/false (an unset variable is false)."""
    lowered = raw.text.lower()
    if lowered not in ("1", "0", "true", "false", ""):
        raise raw.error(f"must be 1 or 0, got {raw.shown()}")
    return lowered in ("1", "true")


def executable(raw: Raw) -> Path:
    return Path(raw.text)


@dataclass(frozen=True, kw_only=True)
class OutDirSettings(SettingsGroup):
    """The local output folder: where every local command keeps its state and writes its files by default,
    so that a workflow with a folder of its own never touches another's data (docs/local.md, "Each workflow
    has its own folder"). The properties are the layout in it; the flags named in their docs override them.
    """

    folder: Path = setting(
        "LOCAL_OUT_DIR", folder, str(DEFAULT_OUT_DIR),
        "The local output folder: the default warehouse (`$LOCAL_OUT_DIR/warehouse.duckdb`), `services up`'s "
        "state and Azurite data (`services/`), CRM and bronze files (`crm/`, `bronze/`), the dashboard, the demo. "
        "Each documented workflow exports its own, under `work/`.")

    @property
    def warehouse(self) -> Path:
        """The DuckDB file when neither WAREHOUSE_PATH nor WAREHOUSE_CONNECTION_STRING nor a flag says."""
        return self.folder / WAREHOUSE_FILE

    @property
    def services(self) -> Path:
        """`services up`: pid file, logs, Azurite's data (--dir)."""
        return self.folder / "services"

    @property
    def crm(self) -> Path:
        """`crm generate` / `crm download`: <crm>/companies/snapshot_date=D/companies.csv (--out)."""
        return self.folder / "crm"

    @property
    def bronze(self) -> Path:
        """`bronze download`: <bronze>/product_usage/date=D/<run_id>/ (--out)."""
        return self.folder / "bronze"

    @property
    def dashboard(self) -> Path:
        """`dashboard` (-o)."""
        return self.folder / "dashboard.html"


def out_dir(env: Mapping[str, str] | None = None) -> OutDirSettings:
    """The local output folder of the environment (LOCAL_OUT_DIR, else out) and its layout."""
    return OutDirSettings.from_env(env)


@dataclass(frozen=True, kw_only=True)
class WarehouseSettings(SettingsGroup):
    """Where the warehouse is when no `--warehouse` / `--connection-string-file` is given."""

    path: Path | None = setting(
        "WAREHOUSE_PATH", optional(duckdb_file), "",
        "DuckDB file of the warehouse (the `AzureSqlDatabase` linked service of a local run maps to it); "
        "`$LOCAL_OUT_DIR/warehouse.duckdb` when `WAREHOUSE_CONNECTION_STRING` is unset too.")
    connection_string: Secret | None = setting(
        "WAREHOUSE_CONNECTION_STRING", optional(secret), "",
        "ODBC connection string of a SQL Server / Azure SQL database to use instead of DuckDB (set at most "
        "one of the two); Entra auth via `Authentication=ActiveDirectoryDefault`. Never logged.",
        secret=True)
    out: OutDirSettings = group(OutDirSettings)

    @property
    def duckdb_path(self) -> Path:
        """The DuckDB file when no connection string is set: WAREHOUSE_PATH, else $LOCAL_OUT_DIR/warehouse.duckdb."""
        return self.path or self.out.warehouse

    def __post_init__(self) -> None:
        if self.path is not None and self.connection_string is not None:
            raise SettingsError("WAREHOUSE_PATH", "both WAREHOUSE_CONNECTION_STRING and WAREHOUSE_PATH are set: set "
                                                  "at most one (or pass --warehouse or --connection-string-file)")


def warehouse_flag(path: Path) -> WarehouseSettings:
    """The warehouse a `--warehouse PATH.duckdb` flag names: it wins over both variables."""
    return WarehouseSettings(path=duckdb_file(Raw("--warehouse", str(path))))


def warehouse_target(path: Path | None, connection: str | None,
                     env: Mapping[str, str] | None = None) -> tuple[Path | None, str | None]:
    """(DuckDB path, None) or (None, connection string): the one rule every command uses.

    A `--warehouse` / `--connection-string-file` option first; else WAREHOUSE_CONNECTION_STRING or
    WAREHOUSE_PATH (both set is ambiguous: SettingsError); else the DuckDB file $LOCAL_OUT_DIR/warehouse.duckdb.
    """
    if connection:
        return None, connection
    if path is not None:
        return warehouse_flag(path).duckdb_path, None
    settings = WarehouseSettings.from_env(env)
    if settings.connection_string is not None:
        return None, settings.connection_string.reveal()
    return settings.duckdb_path, None


@dataclass(frozen=True, kw_only=True)
class LocalRunSettings(SettingsGroup):
    """What a local pipeline run maps the factory's linked services to (pipeline/local_resources.py)."""

    blob_connection_string: Secret = setting(
        "LOCAL_BLOB_CONNECTION_STRING", storage_connection_string, None,
        "Blob connection string every `AzureBlobStorage` linked service (bronze and CRM) maps to, e.g. "
        "Azurite's (`eval \"$(company-activity services up)\"` sets it); the containers are the factory's global "
        "parameters `bronzeContainer` / `crmContainer`. Never logged.", secret=True)
    warehouse: WarehouseSettings = group(WarehouseSettings)
    slack_webhook_url: Secret | None = setting(
        "SLACK_WEBHOOK_URL", optional(secret_url), "",
        "Webhook the alert posts to, served as the value of the Key Vault secret the alert reads (e.g. the "
        "demo's catcher); unset, an alert run fails at `GetSlackWebhookUrl` saying so. Never logged.",
        secret=True)

    def describe_warehouse(self) -> str:
        if self.warehouse.connection_string is not None:
            return "SQL Server (WAREHOUSE_CONNECTION_STRING)"
        return f"DuckDB file {self.warehouse.duckdb_path}"


@dataclass(frozen=True, kw_only=True)
class ServicesSettings(SettingsGroup):
    """How `services up` and the demo start Azurite and the simulator."""

    free_ports: bool = setting(
        "SERVICES_FREE_PORTS", switch, "",
        "`1`: `services up` and the demo take free ports instead of Azurite's standard 10000-10002 and "
        "the simulator's 8080 (as `--free-ports`).")
    azurite_bin: Path | None = setting(
        "AZURITE_BIN", optional(executable), "",
        "The `azurite` executable to run; default `node_modules/.bin/azurite` (`make install`), else the "
        "one on `PATH`. Azurite 3.35 or later: it is started with `--disableTelemetry`, which older versions "
        "refuse (`The option \"disableTelemetry\" is unknown`).")


@dataclass(frozen=True, kw_only=True)
class DuckDBSettings(SettingsGroup):
    """How the DuckDB warehouse runs (every command and the demo open it through warehouse/connect.py)."""

    threads: int | None = setting(
        "DUCKDB_THREADS", optional(whole(1, 1024)), "",
        "Worker threads of the DuckDB warehouse; DuckDB's default (one per core) when unset. The tests set 1: "
        "their workers already use every core, and on small data a thread pool is overhead. Results are the same.")


# The local settings in the order of docs/local.md.
LOCAL_SETTINGS: tuple[Setting, ...] = (*LocalRunSettings.declared(), *ServicesSettings.declared(),
                                       *DuckDBSettings.declared())
