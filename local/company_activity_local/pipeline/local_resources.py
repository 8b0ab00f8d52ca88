"""How the factory's linked services map to local resources when the pipeline runs offline.

| linked service type                        | local resource                                             |
|--------------------------------------------|------------------------------------------------------------|
| AzureBlobStorage (any of them)             | the blob service of LOCAL_BLOB_CONNECTION_STRING (Azurite) |
| AzureSqlDatabase / SqlServer               | WAREHOUSE_CONNECTION_STRING (SQL Server) if set, else the  |
|                                            | DuckDB file WAREHOUSE_PATH (default                        |
|                                            | $LOCAL_OUT_DIR/warehouse.duckdb, out/warehouse.duckdb)     |
| AzureKeyVault                              | not contacted: Key Vault secret reads are answered locally |

A Web activity that GETs `https://<vault>.vault.azure.net/secrets/<name>` with managed-identity
authentication (resource `https://vault.azure.net`) is answered with `{"value": SLACK_WEBHOOK_URL}`
instead of calling Azure: the only secret the pipeline reads is the Slack webhook.

The settings are `LocalRunSettings` (company_activity_local/settings.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import requests
from azure.storage.blob import BlobServiceClient, ContainerClient

from company_activity.settings import SettingsError
from company_activity.storage import blob_service_from_connection_string
from company_activity_local.pipeline.resources import Factory
from company_activity_local.pipeline.results import ActivityFailed, UnsupportedFeature
from company_activity_local.settings import LocalRunSettings, out_dir

if TYPE_CHECKING:
    from company_activity_local.warehouse.engine import Warehouse

BLOB_TYPES = frozenset({"AzureBlobStorage"})
SQL_TYPES = frozenset({"AzureSqlDatabase", "SqlServer", "AzureSqlMI"})
KEY_VAULT_TYPES = frozenset({"AzureKeyVault"})


def prepare_warehouse_file(path: Path, env: Mapping[str, str] | None = None) -> str | None:
    """Check a DuckDB warehouse file before a command writes to it: None when the file exists, else the one
    line to print before it is created.

    A path whose folder does not exist is refused (SettingsError) unless it is the default one
    ($LOCAL_OUT_DIR/warehouse.duckdb, whose folder is created): a mistyped --warehouse or WAREHOUSE_PATH
    must not silently start an empty warehouse somewhere else. Nothing is created here but that folder.
    """
    if path.is_file():
        return None
    if path.exists():
        raise SettingsError("WAREHOUSE_PATH", f"the warehouse {str(path)!r} exists but is not a file")
    if not path.parent.is_dir():
        if path != out_dir(env).warehouse:
            raise SettingsError(
                "WAREHOUSE_PATH",
                f"no folder {str(path.parent)!r} for the warehouse {str(path)!r} (--warehouse or WAREHOUSE_PATH): "
                "a mistyped path? Nothing was created; to start a new warehouse there, create the folder first",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    return f"new warehouse: {path} does not exist yet; creating it and deploying sql/ into it"


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

            target = self.settings.warehouse
            if target.connection_string is not None:
                self._warehouse = open_warehouse(connection_string=target.connection_string.reveal())
            else:
                target.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
                self._warehouse = open_warehouse(duckdb_path=str(target.duckdb_path))
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
