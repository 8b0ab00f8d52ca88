"""`company-activity services up | status | env | down`: real background Azurite and simulator processes."""

from __future__ import annotations

import os
import re
import shlex
import socket
from pathlib import Path

import pytest
import requests
from azure.storage.blob import BlobServiceClient

from company_activity_local.cli import main
from company_activity_local.services import background
from company_activity_local.services.background import STATE_FILE, Started, is_running, read_state, stop
from company_activity_local.services.processes import LOOPBACK

pytestmark = [pytest.mark.services, pytest.mark.cli]


def exported(text: str) -> dict[str, str]:
    """The variables of `export NAME=VALUE` lines, as the shell would set them."""
    values = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            values[name] = shlex.split(value)[0]
    return values


def test_up_env_status_down_and_the_data_survives_a_restart(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    state_dir = tmp_path / "services"
    assert main(["services", "up", "--api", "--companies", "20", "--free-ports", "--dir", str(state_dir)]) == 0
    try:
        up = capsys.readouterr()
        env = exported(up.out)
        assert set(env) == {"STORAGE_CONNECTION_STRING", "LOCAL_BLOB_CONNECTION_STRING", "USAGE_API_BASE_URL",
                            "USAGE_API_KEY"}
        assert all(line.startswith("export ") for line in up.out.splitlines())  # stdout is eval-able as is
        assert "started azurite" in up.err and "started usage-API simulator" in up.err
        with BlobServiceClient.from_connection_string(env["STORAGE_CONNECTION_STRING"]) as service:
            service.create_container("kept").upload_blob("a.txt", b"still here")
        answer = requests.get(f"{env['USAGE_API_BASE_URL']}/v1/usage/daily", params={"date": "2026-03-01"},
                              headers={"X-API-Key": env["USAGE_API_KEY"]}, timeout=10)
        assert answer.status_code == 200 and answer.json()["data"]

        assert main(["services", "env", "--dir", str(state_dir)]) == 0
        assert exported(capsys.readouterr().out) == env
        assert main(["services", "status", "--dir", str(state_dir)]) == 0
        status = capsys.readouterr().out
        assert status.count("running (pid") == 2

        # Already up: refused, naming what runs.
        assert main(["services", "up", "--free-ports", "--dir", str(state_dir)]) == 1
        assert "already up" in capsys.readouterr().err
        started = read_state(state_dir).processes  # type: ignore[union-attr]
    finally:
        assert main(["services", "down", "--dir", str(state_dir)]) == 0
    err = capsys.readouterr().err
    assert err.count("stopped ") == 2
    assert len(started) == 2 and not any(is_running(p) for p in started)
    assert not (state_dir / STATE_FILE).exists()

    # Not up any more: every action but `up` says so.
    for action in ("down", "env", "status"):
        assert main(["services", action, "--dir", str(state_dir)]) == 1
        assert "no services are up" in capsys.readouterr().err

    # Up again on the same folder: Azurite's data is still there.
    assert main(["services", "up", "--free-ports", "--dir", str(state_dir)]) == 0
    try:
        env = exported(capsys.readouterr().out)
        assert "USAGE_API_BASE_URL" not in env  # no --api this time
        with BlobServiceClient.from_connection_string(env["STORAGE_CONNECTION_STRING"]) as service:
            assert service.get_blob_client("kept", "a.txt").download_blob().readall() == b"still here"
    finally:
        assert main(["services", "down", "--dir", str(state_dir)]) == 0


def test_a_port_in_use_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(background, "STANDARD_PORTS", {"blob": port, "queue": 1, "table": 2, "api": 3})
        monkeypatch.delenv("SERVICES_FREE_PORTS", raising=False)
        assert main(["services", "up", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert re.search(rf"port {port} \(Azurite blob\) is already in use", err), err
    assert "--free-ports" in err
    assert not (tmp_path / STATE_FILE).exists()


def test_down_never_kills_a_reused_pid() -> None:
    """A pid file naming a live process that runs something else (here: this test) is not signalled."""
    impostor = Started(
        name="azurite",
        pid=os.getpid(),
        argv=["/x/node_modules/.bin/azurite", "--location", "/nowhere"],
        ports=[],
        log="",
    )
    assert not is_running(impostor)
    assert stop(impostor) is False
    cmdline = [part.decode() for part in Path("/proc/self/cmdline").read_bytes().split(b"\0") if part]
    assert is_running(
        Started(name="pytest", pid=os.getpid(), argv=cmdline, ports=[], log="")
    )  # a matching command line is recognised


def test_standard_ports_are_what_use_development_storage_means() -> None:
    """`services up` without --free-ports serves `UseDevelopmentStorage=true` (local.settings.json.example)."""
    from company_activity_local.services.azurite import ACCOUNT, ACCOUNT_KEY, connection_string

    ports = background.STANDARD_PORTS
    shortcut = BlobServiceClient.from_connection_string("UseDevelopmentStorage=true")
    ours = BlobServiceClient.from_connection_string(connection_string(ports["blob"], ports["queue"]))
    assert shortcut.url == ours.url == f"http://127.0.0.1:{ports['blob']}/{ACCOUNT}/"
    assert shortcut.credential.account_key == ours.credential.account_key == ACCOUNT_KEY
