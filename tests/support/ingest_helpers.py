"""Helpers shared by the ingestion tests (plain functions; fixtures stay in the test modules)."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
from typing import Any

from azure.storage.blob import ContainerClient

from company_activity.ingest import bronze
from company_activity.ingest.usage_api import RetryPolicy, UsageApiClient
from company_activity.settings import Secret
from company_activity_local.services.simulator import UsageApiSimulator

DAY = datetime.date(2026, 3, 14)
FAST_RETRY = RetryPolicy(max_attempts=6, max_total_s=30.0, backoff_initial_s=0.001, backoff_max_s=0.01,
                         max_retry_after_s=5.0)


def client_for(api: UsageApiSimulator, *, page_size: int = 100, timeout_s: float = 5.0,
               retry: RetryPolicy = FAST_RETRY, api_key: str | None = None) -> UsageApiClient:
    return UsageApiClient(api.base_url, Secret(api_key or api.api_key), page_size=page_size, timeout_s=timeout_s,
                          retry=retry)


def blob_bytes(container: ContainerClient, path: str) -> bytes:
    return container.get_blob_client(path).download_blob().readall()


def snapshot(container: ContainerClient, prefix: str = bronze.DATASET + "/") -> dict[str, bytes]:
    """Every blob under `prefix`, by name: for byte-for-byte before/after comparisons."""
    return {b.name: blob_bytes(container, b.name) for b in container.list_blobs(name_starts_with=prefix)}


def lines_of(container: ContainerClient, path: str) -> list[Any]:
    return [json.loads(line) for line in gzip.decompress(blob_bytes(container, path)).splitlines()]


def assert_manifest_verifies(container: ContainerClient, manifest: bronze.Manifest) -> None:
    """Every file the manifest lists exists, lives in its run folder, and matches bytes, sha256 and lines."""
    for entry in (*manifest.files, *manifest.rejected_files):
        data = blob_bytes(container, entry.path)
        assert entry.path.startswith(manifest.run_path)
        assert len(data) == entry.bytes, entry.path
        assert hashlib.sha256(data).hexdigest() == entry.sha256, entry.path
        assert len(gzip.decompress(data).splitlines()) == entry.records, entry.path
