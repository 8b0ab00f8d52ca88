"""Blob service clients from settings: a connection string locally, managed identity in Azure.

A connection string to a loopback endpoint (Azurite) gets a short connect timeout and two quick retries:
the SDK's defaults (20 s connect timeout, retries backing off 15 s, 45 s, ...) made a wrong local port
look like a hang of 89 s. Remote endpoints keep the SDK's defaults.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from azure.storage.blob import BlobServiceClient, ExponentialRetry

from company_activity.settings import StorageSettings

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LOCAL_CONNECT_TIMEOUT_S = 3
# Seconds as floats: the SDK annotates these parameters as int but computes with them as numbers.
LOCAL_RETRY: dict[str, Any] = {"initial_backoff": 0.5, "increment_base": 1.5, "retry_total": 2,
                               "random_jitter_range": 0.5}


def blob_service(settings: StorageSettings) -> BlobServiceClient:
    if settings.connection_string is not None:
        return blob_service_from_connection_string(settings.connection_string.reveal())
    # Imported here so that the local path does not pay for azure-identity's import.
    from azure.identity import DefaultAzureCredential

    return BlobServiceClient(settings.account_url or "", credential=DefaultAzureCredential())


def blob_service_from_connection_string(connection_string: str) -> BlobServiceClient:
    """The client of a connection string; fail-fast timeouts when it points at a loopback endpoint."""
    client = BlobServiceClient.from_connection_string(connection_string)
    if urlparse(client.url).hostname not in LOOPBACK_HOSTS:
        return client
    client.close()
    return BlobServiceClient.from_connection_string(
        connection_string, connection_timeout=LOCAL_CONNECT_TIMEOUT_S, retry_policy=ExponentialRetry(**LOCAL_RETRY)
    )
