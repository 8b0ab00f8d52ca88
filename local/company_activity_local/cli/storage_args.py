"""Storage flags and settings shared by the commands that read or write blobs outside the ingestion."""

from __future__ import annotations

import argparse

from azure.core.exceptions import AzureError, HttpResponseError
from azure.storage.blob import ContainerClient

from company_activity.settings import IngestSettings
from company_activity.storage import blob_service
from company_activity_local.cli.ingest import settings_from


def add_storage_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("storage (as for `ingest`: STORAGE_CONNECTION_STRING or STORAGE_ACCOUNT_URL)")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--connection-string", help="blob connection string (env STORAGE_CONNECTION_STRING)")
    where.add_argument("--account-url",
                       help="blob endpoint, signs in with DefaultAzureCredential (env STORAGE_ACCOUNT_URL)")


def storage_settings(args: argparse.Namespace) -> IngestSettings:
    """The storage part of IngestSettings (API settings are not needed); SettingsError names a bad one."""
    return settings_from(args, storage_only=True)


def container(settings: IngestSettings, name: str) -> ContainerClient:
    return blob_service(settings).get_container_client(name)


# The roles the environment grants for the CRM feed (docs/crm.md; CRM_WRITER_PRINCIPALS, REPLAY_READER_PRINCIPALS).
CRM_WRITER_ROLE = "Storage Blob Data Contributor (a CRM writer: CRM_WRITER_PRINCIPALS)"
REPLAY_READER_ROLE = "Storage Blob Data Reader (a replay reader: REPLAY_READER_PRINCIPALS)"


def access_refused(exc: AzureError, container_name: str, role: str) -> str | None:
    """The message for Blob storage refusing a signed-in identity (403 AuthorizationPermissionMismatch or
    AuthorizationFailure): which role on which container it lacks. None for any other error."""
    if not isinstance(exc, HttpResponseError) or exc.status_code != 403:
        return None
    if exc.error_code not in ("AuthorizationPermissionMismatch", "AuthorizationFailure"):
        return None
    return (f"{first_line(exc)}: the identity you signed in with needs {role} on container {container_name} "
            "(the environment's deployment grants it, docs/crm.md)")


def first_line(exc: Exception) -> str:
    """An Azure SDK error's first line (the rest is the HTTP exchange), or its type when it has no text."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
