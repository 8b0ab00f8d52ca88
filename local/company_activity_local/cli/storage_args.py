"""Storage flags and settings shared by the commands that read or write blobs outside the ingestion."""

from __future__ import annotations

import argparse

from azure.storage.blob import ContainerClient

from company_activity.settings import StorageSettings
from company_activity.storage import blob_service
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

