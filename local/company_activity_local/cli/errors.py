"""The CLI's exit codes and the one line `main` prints for each way a command can end.

Commands do not print errors or return exit codes: they raise, and `main` (cli/__init__.py) turns what
ends a command into one line on stderr, `company-activity: error: <message>`, and an exit code:

- an `InputError` (a flag, a setting, a file, a date): exit 2, nothing was changed;
- an `OperationalError` (`CommandFailed`, `StorageError`, the warehouse, ...): exit 1;
- an Azure SDK error no command explained: exit 1, `Azure: <its first line>`;
- Ctrl-C: exit 130, `company-activity: interrupted: <what is committed, and how to go on>` (cli/journal.py);
- anything else is a bug: exit 1, `unexpected <type>: ...`, with the traceback under -v.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum

from azure.core.exceptions import AzureError, ServiceRequestError

from company_activity.errors import CompanyActivityError, InputError, OperationalError

PROG = "company-activity"
SERVICES_UP_HINT = ("nothing answered at the storage endpoint: is Azurite running? `company-activity services up` "
                    "starts it (and prints the settings to export); otherwise check STORAGE_CONNECTION_STRING / "
                    "LOCAL_BLOB_CONNECTION_STRING")


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # an operational failure, or the command did not reach its goal (a run Failed, a day not committed)
    USAGE = 2  # bad input (a flag, a setting, a file): nothing was changed
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


class UsageError(InputError):
    """A flag or its value is wrong (argparse's own complaints become this too)."""


class CommandFailed(OperationalError):
    """The command ran but did not reach its goal (a run Failed, a day was not committed, a date is missing).
    The details are printed already; the message says in one line what failed."""


class StorageError(OperationalError):
    """Blob storage failed or refused a request the command made."""


@contextmanager
def storage_errors(doing: str) -> Iterator[None]:
    """Turn an Azure SDK error of the block into a StorageError saying what the command was doing."""
    try:
        yield
    except AzureError as exc:
        raise StorageError(f"storage error while {doing}: {storage_failure(exc)}") from exc


def storage_failure(exc: BaseException) -> str:
    """An Azure SDK error's first line; for a connection that could not be made (nothing listens there: Azurite
    not started, a wrong port), followed by what to do about it (SERVICES_UP_HINT)."""
    return f"{first_line(exc)} ({SERVICES_UP_HINT})" if isinstance(exc, ServiceRequestError) else first_line(exc)


def first_line(exc: BaseException) -> str:
    """An error's first line (an Azure SDK error's rest is the HTTP exchange), or its type when it has no text."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def exit_code(exc: BaseException) -> ExitCode:
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.USAGE if isinstance(exc, InputError) else ExitCode.FAILED


def error_line(exc: BaseException) -> str:
    """The one line (or paragraph, for a report of rejected rows) `main` prints for an error that ended a command."""
    if isinstance(exc, CompanyActivityError):
        message = str(exc)
    elif isinstance(exc, AzureError):
        message = f"Azure: {storage_failure(exc)}"
    else:
        message = (f"unexpected {type(exc).__name__}: {first_line(exc)} (a bug: run with -v for the traceback, "
                   "and please report it)")
    return f"{PROG}: error: {message}"
