"""One spelling per kind of flag value, shared by every command.

- a day: `--date D` (was `--run-date` in transform);
- a range of days: `--dates START..END`, or `--date D` for one day (was `--start D1 --end D2` in backfill and
  ingestions, `--end D` with `--days N` in the demo);
- an output path: `--out PATH` / `-o PATH` (was `--dest` in bronze and crm download, `--output` in dashboard);
- a connection string: its environment variable, or `--connection-string-file PATH`;
- a duration: seconds, at least 0 (`seconds`).

An old spelling still works for one release and prints one line on stderr naming its replacement. No flag
carries a secret: `--connection-string VALUE` is accepted (deprecated) only for a value that holds no
credential; with a key, signature or password in it, it is refused, because on the command line the value
is visible in the process list and stays in the shell history, and the message says where to put it
instead. The simulator's `--api-key` is gone for the same reason: the simulator reads `USAGE_API_KEY`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from company_activity.ingest.dates import parse_iso_date, require_complete_day, require_span
from company_activity.settings import DateSettings
from company_activity_local.cli.errors import PROG, UsageError

ODBC = "ODBC (Azure SQL / SQL Server; Entra auth via Authentication=ActiveDirectoryDefault)"
# Keys of a `Key=Value;...` connection string (blob or ODBC) whose value is a credential.
CREDENTIAL_KEYS = frozenset({"accountkey", "sharedaccesssignature", "pwd", "password", "accesstoken"})


def deprecation(old: str, new: str) -> None:
    print(f"{PROG}: warning: {old} is deprecated and will be removed in the next release; use {new}",
          file=sys.stderr)


class DeprecatedAlias(argparse.Action):
    """An old spelling kept for one release: stores into `dest` like the new flag, and says so on stderr."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, replacement: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)
        self.replacement = replacement

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        deprecation(option_string or self.dest, self.replacement)
        setattr(namespace, self.dest, values)


class RemovedSecretFlag(argparse.Action):
    """A flag that carried a secret, removed: using it is a usage error that says what to do instead."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, instead: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.instead = instead

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        raise UsageError(f"{option_string} was removed: a secret on the command line is visible to every user of "
                         f"this machine (process list) and stays in your shell history; {self.instead} "
                         "(value not shown)")


def seconds(text: str) -> float:
    """A number of seconds, at least 0 (argparse names the flag in its error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


# ------------------------------------------------------------------------------------------------- days


def add_day_flag(parser: argparse.ArgumentParser, *, help: str, old: Sequence[str] = ()) -> None:
    """`--date D` (required; checked by `day_of`, so that an old spelling can stand in for it)."""
    parser.add_argument("--date", metavar="YYYY-MM-DD", help=f"{help} (required)")
    for spelling in old:
        parser.add_argument(spelling, dest="date", action=DeprecatedAlias, replacement="--date")


def day_of(args: argparse.Namespace) -> date:
    if args.date is None:
        raise UsageError("--date YYYY-MM-DD is required")
    return parse_iso_date("--date", args.date)


def add_span_flags(parser: argparse.ArgumentParser, *, help: str, start_end: bool = False) -> None:
    """`--date D` or `--dates START..END` (one of them is required); `start_end`: the old `--start`/`--end`."""
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="one day")
    parser.add_argument("--dates", metavar="START..END", help=f"{help} (inclusive)")
    if start_end:
        for old in ("--start", "--end"):
            parser.add_argument(old, action=DeprecatedAlias, replacement="--dates START..END", default=None)


def span_of(args: argparse.Namespace, tz: ZoneInfo, max_days: int) -> list[date]:
    """The days of --date or --dates: complete days only (at most yesterday in `tz`), at most `max_days`."""
    single, span = args.date, args.dates
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is not None or end is not None:
        if start is None or end is None:
            raise UsageError("--start and --end go together (better: --dates START..END)")
        if single is not None or span is not None:
            raise UsageError("give one of --date, --dates and --start/--end")
        span = f"{start}..{end}"
    if single is not None and span is not None:
        raise UsageError("give one of --date and --dates, not both")
    if single is not None:
        return [require_complete_day("--date", parse_iso_date("--date", single), tz)]
    if span is None:
        raise UsageError("give --date YYYY-MM-DD or --dates START..END")
    first, last = parse_span(span)
    days = require_span("--dates", first, last, max_days)
    require_complete_day("--dates end", last, tz)
    return days


def days_of(args: argparse.Namespace) -> list[date]:
    """`span_of` with the limits of every command: INGEST_TIMEZONE's yesterday, BACKFILL_MAX_DAYS days."""
    limits = DateSettings.from_env()
    return span_of(args, limits.tz, limits.max_days)


def parse_span(span: str) -> tuple[date, date]:
    start, sep, end = span.partition("..")
    if not sep:
        raise UsageError(f"--dates expects START..END, got {span!r}")
    return parse_iso_date("--dates start", start), parse_iso_date("--dates end", end)


# ------------------------------------------------------------------------------------------ output paths


def add_out_flag(parser: argparse.ArgumentParser, *, default: Path | None, help: str,
                 old: Sequence[str] = ()) -> None:
    """`--out PATH` / `-o PATH`, with the command's old spellings as deprecated aliases."""
    parser.add_argument("-o", "--out", type=Path, default=default, metavar="PATH", help=help)
    for spelling in old:
        parser.add_argument(spelling, dest="out", type=Path, action=DeprecatedAlias, replacement="--out")


# ------------------------------------------------------------------------------------ connection strings


def add_connection_string_flags(group: Any, *, env: str, what: str) -> None:
    """`--connection-string-file PATH` on `group` (a parser or a mutually exclusive group), plus the old
    `--connection-string VALUE`, accepted for one release only when the value holds no credential."""
    group.add_argument("--connection-string-file", type=Path, metavar="PATH",
                       help=f"file holding the {what} connection string (default: ${env}); no flag takes the "
                            "string itself, as it may hold a secret")
    group.add_argument("--connection-string", action=ConnectionStringFlag, env=env)


class ConnectionStringFlag(argparse.Action):
    """The old `--connection-string VALUE`: refused when the value holds a credential, else deprecated."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, env: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.env = env

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        flag = option_string or "--connection-string"
        held = credential_keys(str(values))
        if held:
            raise UsageError(
                f"{flag} no longer takes a connection string that holds a credential ({', '.join(held)}): on the "
                "command line it is visible to every user of this machine (process list) and stays in your shell "
                f"history. Set {self.env} instead, or put the string in a file and pass --connection-string-file "
                "PATH (value not shown)")
        deprecation(flag, f"{self.env} or --connection-string-file PATH")
        setattr(namespace, self.dest, values)


def credential_keys(connection_string: str) -> list[str]:
    """The credential keys (AccountKey, PWD, ...) a `Key=Value;...` connection string sets, as written."""
    held = []
    for part in connection_string.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip().lower() in CREDENTIAL_KEYS and value.strip():
            held.append(key.strip())
    return held


def connection_string(args: argparse.Namespace) -> str | None:
    """The connection string of `--connection-string-file` (or of the old flag); None when neither is given."""
    path: Path | None = getattr(args, "connection_string_file", None)
    if path is None:
        return getattr(args, "connection_string", None) or None
    try:
        value = path.read_text(encoding="utf-8-sig").strip()
    except OSError as exc:
        raise UsageError(f"--connection-string-file {path}: {exc.strerror or exc}") from None
    if not value:
        raise UsageError(f"--connection-string-file {path}: the file is empty")
    return value
