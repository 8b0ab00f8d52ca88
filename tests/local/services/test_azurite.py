"""Azurite as the local stand-ins start it: it stops by itself on SIGTERM, even after it served requests.

Azurite 3.37 collects telemetry unless `--disableTelemetry` is given (its README); the telemetry client keeps node
running after the servers close ("Azurite Blob service successfully closed" is logged, the process stays), so every
`services down` waited out the grace period and killed it. The local stand-ins start it without telemetry: nothing
is sent from a developer's machine, and SIGTERM ends it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from company_activity_local.services.azurite import azurite_argv, connection_string
from company_activity_local.services.processes import free_port, wait_until_answering

pytestmark = pytest.mark.services


def test_azurite_exits_on_sigterm_after_serving_requests(tmp_path: Path) -> None:
    blob, queue, table = free_port(), free_port(), free_port()
    argv = azurite_argv(blob, queue, table, tmp_path / "data")
    assert "--disableTelemetry" in argv
    log = tmp_path / "azurite.log"
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=tmp_path)
    try:
        wait_until_answering(process, "azurite", [blob, queue], 60, log.read_text)
        with BlobServiceClient.from_connection_string(connection_string(blob, queue)) as service:
            service.create_container("bronze").upload_blob("a.json", b"{}")
        process.terminate()
        code = process.wait(timeout=30)  # a guard against a hang, not a measure: it exits in well under a second
    finally:
        process.kill()
        process.wait()
    assert code == 0, log.read_text()
    assert "Azurite Blob service successfully closed" in log.read_text()
