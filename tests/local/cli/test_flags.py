"""One spelling per kind of flag value; the old spellings work for one release with a note; no flag takes a
secret (a connection string with a credential on the command line is refused, naming where it goes)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from company_activity_local.cli import build_parser, main
from company_activity_local.cli.flags import ConnectionStringFlag, RemovedSecretFlag, credential_keys
from company_activity_local.services.azurite import Azurite

WARNING = "company-activity: warning: "


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Valid settings, so each command gets as far as its flags."""
    for name, value in {"USAGE_API_BASE_URL": "http://127.0.0.1:9", "USAGE_API_KEY": "k",
                        "STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true", "INGEST_TIMEZONE": "UTC"}.items():
        monkeypatch.setenv(name, value)
    for name in ("STORAGE_ACCOUNT_URL", "WAREHOUSE_PATH", "WAREHOUSE_CONNECTION_STRING", "BACKFILL_MAX_DAYS"):
        monkeypatch.delenv(name, raising=False)


def subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name), child
                yield from subcommands(child, (*path, name))


def test_no_flag_takes_a_secret() -> None:
    """A flag whose value would be a key or a connection string is either gone or guarded."""
    checked = 0
    for path, parser in subcommands(build_parser()):
        for action in parser._actions:
            for option in action.option_strings:
                if option in ("--connection-string", "--api-key") or any(
                        word in option for word in ("password", "secret", "token", "-key")):
                    assert isinstance(action, ConnectionStringFlag | RemovedSecretFlag), (path, option)
                    checked += 1
    assert checked >= 7  # storage and warehouse commands, and the simulator


@pytest.mark.parametrize(("argv", "old", "new", "then"), [
    (["transform", "--run-date", "2099-01-01", "--usage", "x.jsonl"], "--run-date", "--date", "after yesterday"),
    (["backfill", "--start", "2026-06-10", "--end", "2026-06-01"], "--start", "--dates START..END",
     "end 2026-06-01 is before start 2026-06-10"),
    (["dashboard", "--warehouse", "absent.duckdb", "--output", "x.html"], "--output", "--out", "no warehouse at"),
    (["demo", "--end", "2099-01-01"], "--end", "--dates START..END", "after yesterday"),
])
def test_old_spellings_still_work_with_a_note(argv: list[str], old: str, new: str, then: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    main(argv)
    err = capsys.readouterr().err
    assert f"{WARNING}{old} is deprecated and will be removed in the next release; use {new}\n" in err
    assert then in err  # the old spelling reached the command as the new one


def test_one_range_flag_at_a_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backfill", "--date", "2026-06-01", "--dates", "2026-06-01..2026-06-02"]) == 2
    assert "give one of --date and --dates" in capsys.readouterr().err
    assert main(["bronze", "download"]) == 2
    assert "give --date YYYY-MM-DD or --dates START..END" in capsys.readouterr().err


SECRET = "c2VjcmV0LWtleS1wYXJ0"


@pytest.mark.parametrize(("argv", "env"), [
    (["sql", "deploy", "--connection-string", f"Driver=x;Server=y;UID=u;PWD={SECRET}"], "WAREHOUSE_CONNECTION_STRING"),
    (["dashboard", "--connection-string", f"Server=y;Password={SECRET}"], "WAREHOUSE_CONNECTION_STRING"),
    (["ingestions", "--date", "2026-06-01", "--connection-string",
      f"AccountName=a;AccountKey={SECRET};BlobEndpoint=http://127.0.0.1:1/a"], "STORAGE_CONNECTION_STRING"),
    (["crm", "download", "--date", "2026-06-01", "--connection-string", f"BlobEndpoint=http://x;SharedAccessSignature={SECRET}"],
     "STORAGE_CONNECTION_STRING"),
])
def test_a_connection_string_with_a_credential_is_refused_on_the_command_line(
    argv: list[str], env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "holds a credential" in captured.err and env in captured.err and "--connection-string-file" in captured.err


def test_a_connection_string_without_a_credential_is_still_accepted(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    entra = "Driver={ODBC Driver 18 for SQL Server};Server=tcp:127.0.0.1,9;Authentication=ActiveDirectoryDefault"
    main(["sql", "deploy", "--connection-string", entra])
    err = capsys.readouterr().err
    assert f"{WARNING}--connection-string is deprecated" in err
    assert "holds a credential" not in err  # it went on to connect (and failed: nothing listens on port 9)


def test_credential_keys_are_found_whatever_their_case() -> None:
    assert credential_keys("AccountName=a;accountkey=abc;BlobEndpoint=x") == ["accountkey"]
    assert credential_keys("Server=s;Pwd=p;UID=u") == ["Pwd"]
    assert credential_keys("Server=s;Authentication=ActiveDirectoryDefault") == []
    assert credential_keys("UseDevelopmentStorage=true") == []


def test_the_connection_string_comes_from_a_file(azurite: Azurite, blob_service: BlobServiceClient,
                                                 container_name: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    secret_file = tmp_path / "storage.conn"
    secret_file.write_text(azurite.connection_string + "\n")
    monkeypatch.setenv("STORAGE_CONNECTION_STRING", "AccountName=wrong;AccountKey=d3Jvbmc=")
    monkeypatch.delenv("STORAGE_ACCOUNT_URL", raising=False)
    blob_service.create_container(container_name)
    assert main(["ingestions", "--date", "2026-06-01", "--container", container_name,
                 "--connection-string-file", str(secret_file)]) == 0
    captured = capsys.readouterr()
    assert "0 of 1 days committed" in captured.out
    assert "AccountKey" not in captured.out + captured.err
    assert main(["ingestions", "--date", "2026-06-01", "--connection-string-file", str(tmp_path / "none")]) == 2
    assert "--connection-string-file" in capsys.readouterr().err
