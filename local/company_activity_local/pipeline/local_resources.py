"""How the factory's linked services map to local resources when the pipeline runs offline.

| linked service type                        | local resource                                             |
|--------------------------------------------|------------------------------------------------------------|
| AzureBlobStorage (any of them)             | the blob service of LOCAL_BLOB_CONNECTION_STRING (Azurite) |
| AzureSqlDatabase / SqlServer               | WAREHOUSE_CONNECTION_STRING (SQL Server) if set, else the  |
|                                            | DuckDB file WAREHOUSE_PATH (default out/warehouse.duckdb)  |
| AzureKeyVault                              | not contacted: Key Vault secret reads are answered locally |

A Web activity that GETs `https://<vault>.vault.azure.net/secrets/<name>` with managed-identity
authentication (resource `https://vault.azure.net`) is answered with `{"value": SLACK_WEBHOOK_URL}`
instead of calling Azure: the only secret the pipeline reads is the Slack webhook.

`LocalRunSettings.from_env()` is the only place that reads these variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import requests
from azure.storage.blob import BlobServiceClient, ContainerClient

from company_activity.settings import Secret, SettingsError, SettingSpec, storage_connection_string
from company_activity.storage import blob_service_from_connection_string
from company_activity_local.pipeline.resources import Factory
from company_activity_local.pipeline.results import ActivityFailed, UnsupportedFeature

if TYPE_CHECKING:
    from company_activity_local.warehouse.engine import Warehouse

DEFAULT_WAREHOUSE_PATH = "out/warehouse.duckdb"
BLOB_TYPES = frozenset({"AzureBlobStorage"})
SQL_TYPES = frozenset({"AzureSqlDatabase", "SqlServer", "AzureSqlMI"})
KEY_VAULT_TYPES = frozenset({"AzureKeyVault"})

LOCAL_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("LOCAL_BLOB_CONNECTION_STRING", None,
                "Blob connection string every AzureBlobStorage linked service maps to (Azurite).", True),
    SettingSpec("WAREHOUSE_PATH", DEFAULT_WAREHOUSE_PATH,
                "DuckDB file the AzureSqlDatabase linked service maps to (when no connection string is set)."),
    SettingSpec("WAREHOUSE_CONNECTION_STRING", "",
                "ODBC connection string of a SQL Server the AzureSqlDatabase linked service maps to instead.", True),
    SettingSpec("SLACK_WEBHOOK_URL", "",
                "Webhook the alert posts to; served as the Key Vault secret's value (e.g. the demo's catcher).",
                True),
)


def warehouse_target(path: Path | None, connection: str | None,
                     env: Mapping[str, str] | None = None) -> tuple[Path | None, str | None]:
    """(DuckDB path, None) or (None, connection string): the one rule every command uses.

    A `--warehouse` / `--connection-string` option first; else WAREHOUSE_CONNECTION_STRING or WAREHOUSE_PATH
    (both set is ambiguous: SettingsError); else the DuckDB file out/warehouse.duckdb.
    """
    env = os.environ if env is None else env
    if path is not None or connection:
        chosen_path, chosen_conn = path, connection or None
    else:
        from_path, from_conn = env.get("WAREHOUSE_PATH", "").strip(), env.get("WAREHOUSE_CONNECTION_STRING", "").strip()
        if from_path and from_conn:
            raise SettingsError(
                "WAREHOUSE_PATH",
                "both WAREHOUSE_CONNECTION_STRING and WAREHOUSE_PATH are set: set at most one (or pass --warehouse "
                "or --connection-string)",
            )
        chosen_conn = from_conn or None
        chosen_path = None if from_conn else Path(from_path or DEFAULT_WAREHOUSE_PATH)
    if chosen_path is not None and chosen_path.is_dir():
        raise SettingsError("WAREHOUSE_PATH", f"WAREHOUSE_PATH must be a DuckDB file path, got the directory "
                                              f"{str(chosen_path)!r}")
    return chosen_path, chosen_conn


@dataclass(frozen=True)
class LocalRunSettings:
    blob_connection_string: Secret
    warehouse_path: Path | None = Path(DEFAULT_WAREHOUSE_PATH)
    warehouse_connection_string: Secret | None = None
    slack_webhook_url: Secret | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalRunSettings:
        env = os.environ if env is None else env
        blob = env.get("LOCAL_BLOB_CONNECTION_STRING", "").strip()
        if not blob:
            raise SettingsError(
                "LOCAL_BLOB_CONNECTION_STRING",
                "LOCAL_BLOB_CONNECTION_STRING is required: the blob connection string every AzureBlobStorage "
                "linked service maps to (Azurite's: `eval \"$(company-activity services up)\"` sets it)"
            )
        storage_connection_string("LOCAL_BLOB_CONNECTION_STRING", blob)
        path, conn = warehouse_target(None, None, env)
        slack = env.get("SLACK_WEBHOOK_URL", "").strip()
        if slack:
            parsed = urlparse(slack)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise SettingsError("SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL must be an http(s) URL (value hidden)")
        return cls(
            blob_connection_string=Secret(blob),
            warehouse_path=path,
            warehouse_connection_string=Secret(conn) if conn else None,
            slack_webhook_url=Secret(slack) if slack else None,
        )

    def describe_warehouse(self) -> str:
        if self.warehouse_connection_string is not None:
            return "SQL Server (WAREHOUSE_CONNECTION_STRING)"
        return f"DuckDB file {self.warehouse_path}"


class LocalResources:
    """The local stand-ins of one run: Azurite blob clients, the warehouse, an HTTP session.

    The warehouse is opened on first use and closed by `close()`; pass `warehouse=` to share an open one
    (the demo and the tests do), which `close()` then leaves open.
    """

    def __init__(self, settings: LocalRunSettings, *, warehouse: Warehouse | None = None) -> None:
        self.settings = settings
        self._blob_service: BlobServiceClient | None = None
        self._warehouse = warehouse
        self._owns_warehouse = warehouse is None
        self.http = requests.Session()

    # -- linked services -------------------------------------------------------------------------------
    def linked_service_type(self, factory: Factory, name: str) -> str:
        service = factory.linked_services.get(name)
        if service is None:
            raise ActivityFailed(f"linked service {name!r} is not defined in the factory", "UnknownLinkedService",
                                 retryable=False)
        props = service.get("properties", service)
        kind = str(props.get("type"))
        if kind not in BLOB_TYPES | SQL_TYPES | KEY_VAULT_TYPES:
            raise UnsupportedFeature(f"linked service {name!r} has type {kind!r}, which has no local mapping "
                                     f"(supported: {sorted(BLOB_TYPES | SQL_TYPES | KEY_VAULT_TYPES)})")
        return kind

    def container(self, factory: Factory, linked_service: str, container: str) -> ContainerClient:
        kind = self.linked_service_type(factory, linked_service)
        if kind not in BLOB_TYPES:
            raise ActivityFailed(f"linked service {linked_service!r} is {kind}, not blob storage", retryable=False)
        return self.blob_service.get_container_client(container)

    def warehouse_for(self, factory: Factory, linked_service: str) -> Warehouse:
        kind = self.linked_service_type(factory, linked_service)
        if kind not in SQL_TYPES:
            raise ActivityFailed(f"linked service {linked_service!r} is {kind}, not a SQL database", retryable=False)
        return self.warehouse

    @property
    def blob_service(self) -> BlobServiceClient:
        if self._blob_service is None:
            self._blob_service = blob_service_from_connection_string(self.settings.blob_connection_string.reveal())
        return self._blob_service

    @property
    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            from company_activity_local.warehouse import open_warehouse

            if self.settings.warehouse_connection_string is not None:
                self._warehouse = open_warehouse(
                    connection_string=self.settings.warehouse_connection_string.reveal()
                )
            else:
                assert self.settings.warehouse_path is not None
                self.settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
                self._warehouse = open_warehouse(duckdb_path=str(self.settings.warehouse_path))
        return self._warehouse

    def slack_webhook_url(self, secret_name: str) -> str:
        if self.settings.slack_webhook_url is None:
            raise ActivityFailed(
                f"the pipeline reads Key Vault secret {secret_name!r}; locally it is served from "
                "SLACK_WEBHOOK_URL, which is not set", "SecretNotFound", retryable=False,
            )
        return self.settings.slack_webhook_url.reveal()

    # -- lifecycle -------------------------------------------------------------------------------------
    def close(self) -> None:
        self.http.close()
        if self._blob_service is not None:
            self._blob_service.close()
            self._blob_service = None
        if self._owns_warehouse and self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None

    def __enter__(self) -> LocalResources:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
