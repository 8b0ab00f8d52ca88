"""Session-wide real services for the tests: one Azurite per session, a fresh container per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from company_activity_local.services.azurite import Azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as emulator:
        yield emulator


@pytest.fixture()
def blob_service(azurite: Azurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string)


@pytest.fixture()
def container_name() -> str:
    return f"t{uuid.uuid4().hex[:20]}"


@pytest.fixture()
def container(blob_service: BlobServiceClient, container_name: str) -> Iterator[ContainerClient]:
    client = blob_service.create_container(container_name)
    yield client
    client.delete_container()
