"""Blob service clients from settings: a connection string locally, managed identity in Azure."""

from __future__ import annotations

from azure.storage.blob import BlobServiceClient

from company_activity.settings import IngestSettings


def blob_service(settings: IngestSettings) -> BlobServiceClient:
    if settings.storage_connection_string is not None:
        return BlobServiceClient.from_connection_string(settings.storage_connection_string.reveal())
    # Imported here so that the local path does not pay for azure-identity's import.
    from azure.identity import DefaultAzureCredential

    return BlobServiceClient(settings.storage_account_url or "", credential=DefaultAzureCredential())
