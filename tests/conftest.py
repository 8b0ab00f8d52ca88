"""Session-wide real services for the tests: one Azurite per session, a fresh container per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from company_activity.local.azurite import Azurite


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


@pytest.fixture(autouse=True)
def _no_developer_local_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The CLI reads function_app/local.settings.json; a developer's copy must not leak into the tests."""
    import company_activity.settings as settings

    monkeypatch.setattr(settings, "LOCAL_SETTINGS_FILE", tmp_path_factory.getbasetemp() / "no-local.settings.json")
