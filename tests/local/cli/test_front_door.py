"""One front door: `main` alone turns what ended a command into an exit code and one line on stderr.

Bad input exits 2, an operational failure 1, Ctrl-C 130 with one line naming what was committed and that
rerunning resumes; every message has the same `company-activity: error:` prefix, on stderr, never stdout.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from azure.storage.blob import BlobServiceClient

from company_activity.errors import InputError, OperationalError
from company_activity.ingest import bronze
from company_activity.ingest.dates import yesterday
from company_activity_local import cli
from company_activity_local.cli import main
from company_activity_local.cli.errors import CommandFailed, ExitCode, UsageError, error_line, exit_code
from company_activity_local.cli.ingest import _backfill_line
from company_activity_local.cli.journal import Journal
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.simulator import UsageApiSimulator

PREFIX = "company-activity: error: "


@pytest.mark.parametrize(("error", "code"), [
    (UsageError("--x"), ExitCode.USAGE),
    (InputError("bad file"), ExitCode.USAGE),
    (CommandFailed("a run failed"), ExitCode.FAILED),
    (OperationalError("storage down"), ExitCode.FAILED),
    (KeyboardInterrupt(), ExitCode.INTERRUPTED),
    (TypeError("a bug"), ExitCode.FAILED),
])
def test_each_kind_of_error_has_one_exit_code(error: BaseException, code: ExitCode) -> None:
    assert exit_code(error) is code


def test_a_bug_is_reported_as_one_and_not_as_bad_input() -> None:
    line = error_line(ValueError("unpacking failed"))
    assert line.startswith(PREFIX + "unexpected ValueError: unpacking failed") and "run with -v" in line
    assert error_line(UsageError("--date: not a date")) == PREFIX + "--date: not a date"


@pytest.mark.parametrize("argv", [
    ["ingest"],  # a required flag missing
    ["ingest", "--date", "2026-01-01", "--no-such-flag"],
    ["no-such-command"],
    ["pipeline", "run", "--date", "2026-01-01", "--retry-interval", "soon"],
])
def test_argparse_complaints_use_the_same_prefix_and_exit_2(argv: list[str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == ExitCode.USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(PREFIX) and "--help" in captured.err and captured.err.count("\n") == 1


def test_errors_go_to_stderr_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pipeline", "run", "--date", "2026-02-30"]) == ExitCode.USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(PREFIX + "--date")


def test_a_command_that_fails_after_printing_ends_with_one_error_line(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pipeline", "validate", "--adf-dir", str(tmp_path)]) == ExitCode.FAILED
    captured = capsys.readouterr()
    assert "expected exactly one factory JSON file" in captured.out  # the problems are the command's output
    assert captured.err == f"{PREFIX}1 problem(s) in {tmp_path}\n"


YESTERDAY = yesterday(ZoneInfo("UTC"))


@pytest.mark.cli
def test_ctrl_c_during_a_backfill_says_what_is_committed_and_exits_130(
    azurite: Azurite, usage_api_factory: Callable[..., UsageApiSimulator], blob_service: BlobServiceClient,
    container_name: str, tmp_path: Path,
) -> None:
    """SIGINT while the second of five dates is being fetched (each first page takes 2 s): no traceback,
    exit 130, and one line whose count of committed dates is what bronze holds."""
    slow = usage_api_factory("slow@1:seconds=2", companies=50)
    days = [YESTERDAY - timedelta(days=n) for n in range(4, -1, -1)]
    env = {**os.environ, "USAGE_API_BASE_URL": slow.base_url, "USAGE_API_KEY": slow.api_key,
           "STORAGE_CONNECTION_STRING": azurite.connection_string, "BRONZE_CONTAINER": container_name,
           "INGEST_TIMEZONE": "UTC", "STORAGE_ACCOUNT_URL": ""}
    script = Path(sys.executable).with_name("company-activity")
    proc = subprocess.Popen([str(script), "backfill", "--dates", f"{days[0]}..{days[-1]}"], env=env,
                            cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    container = blob_service.get_container_client(container_name)
    deadline = time.monotonic() + 60
    while not _committed(container, days) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    committed = _committed(container, days)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in err
    last = err.strip().splitlines()[-1]
    # Ctrl-C lands between two dates (nothing in flight), or while one is fetched or committed: then the line
    # names that day, which bronze may already hold (its manifest can land after the CLI last heard back).
    assert 1 <= len(committed) < 5 and last.startswith("company-activity: interrupted: "), err
    assert last.removeprefix("company-activity: interrupted: ") in {
        _backfill_line(committed, 5),
        _backfill_line(committed, 5, in_flight=days[len(committed)]),
        _backfill_line(committed[:-1], 5, in_flight=committed[-1]),
    }, err
    assert "rerunning the same command resumes (committed dates are skipped)" in last


def _committed(container: object, days: list[date]) -> list[date]:
    return [d for d in days if bronze.read_manifest(container, d) is not None]  # type: ignore[arg-type]


def test_a_ctrl_c_that_a_finalizer_swallows_still_stops_the_command_at_its_next_step(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python only prints "Exception ignored in ..." for a KeyboardInterrupt raised in a finalizer (seen:
    urllib3 closing a pooled socket); the command must still stop, at its next journal step, with exit 130."""
    steps: list[str] = []

    def handler(args: argparse.Namespace, journal: Journal) -> None:
        journal.note("1 of 3 date(s) committed")
        steps.append("1")
        holder = type("Holder", (), {})()
        weakref.finalize(holder, signal.raise_signal, signal.SIGINT)
        del holder  # the finalizer runs here; the KeyboardInterrupt is raised inside it and swallowed
        steps.append("2")
        journal.note("2 of 3 date(s) committed")
        steps.append("3")

    parser = argparse.ArgumentParser()
    parser.set_defaults(handler=handler, verbose=False)
    monkeypatch.setattr(cli, "build_parser", lambda *_: parser)
    previous = signal.getsignal(signal.SIGINT)
    assert main([]) == ExitCode.INTERRUPTED
    assert steps == ["1", "2"]
    captured = capsys.readouterr()
    assert captured.err == "company-activity: interrupted: 2 of 3 date(s) committed\n"
    assert signal.getsignal(signal.SIGINT) is previous  # the CLI's handler is gone once main returns
