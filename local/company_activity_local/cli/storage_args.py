"""Storage flags and settings shared by the commands that read or write blobs outside the ingestion."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import AzureError, HttpResponseError
from azure.storage.blob import ContainerClient

from company_activity.settings import StorageSettings
from company_activity.storage import blob_service
from company_activity_local.cli.errors import StorageError, first_line, storage_errors
from company_activity_local.cli.flags import add_connection_string_flags
from company_activity_local.cli.ingest import settings_env


def add_storage_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("storage (as for `ingest`: STORAGE_CONNECTION_STRING or STORAGE_ACCOUNT_URL)")
    where = group.add_mutually_exclusive_group()
    add_connection_string_flags(where, env="STORAGE_CONNECTION_STRING", what="blob storage")
    where.add_argument("--account-url",
                       help="blob endpoint, signs in with DefaultAzureCredential (env STORAGE_ACCOUNT_URL)")


def storage_settings(args: argparse.Namespace) -> StorageSettings:
    """The storage settings with the flags on top (no other group is read); SettingsError names a bad one."""
    return StorageSettings.from_env(settings_env(args))


def container(settings: StorageSettings, name: str) -> ContainerClient:
    return blob_service(settings).get_container_client(name)


# The roles the environment grants for the CRM feed (docs/crm.md; CRM_WRITER_PRINCIPALS, REPLAY_READER_PRINCIPALS).
CRM_WRITER_ROLE = "Storage Blob Data Contributor (a CRM writer: CRM_WRITER_PRINCIPALS)"
REPLAY_READER_ROLE = "Storage Blob Data Reader (a replay reader: REPLAY_READER_PRINCIPALS)"


@contextmanager
def storage_access(doing: str, container_name: str, role: str) -> Iterator[None]:
    """storage_errors, and for Blob storage refusing the signed-in identity (403 AuthorizationPermissionMismatch
    or AuthorizationFailure) a StorageError naming the role on the container it lacks."""
    with storage_errors(doing):
        try:
            yield
        except HttpResponseError as exc:
            refused = access_refused(exc, container_name, role)
            if refused is None:
                raise
            raise StorageError(f"storage error while {doing}: {refused}") from exc


def access_refused(exc: AzureError, container_name: str, role: str) -> str | None:
    """The message for Blob storage refusing a signed-in identity: which role on which container it lacks.
    None for any other error."""
    if not isinstance(exc, HttpResponseError) or exc.status_code != 403:
        return None
    if storage_error_code(exc) not in ("AuthorizationPermissionMismatch", "AuthorizationFailure"):
        return None
    return (f"{first_line(exc)}: the identity you signed in with needs {role} on container {container_name} "
            "(the environment's deployment grants it, docs/crm.md)")


def storage_error_code(exc: AzureError) -> str | None:
    """The x-ms-error-code Blob storage answered with (azure-storage-blob sets `error_code` on the errors it
    raises; azure-core's classes do not declare it)."""
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else None
