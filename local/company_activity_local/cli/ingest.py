"""`company-activity ingest | backfill | ingestions`: the ingestion stage from a terminal.

Settings come from the environment (the same app settings as the Functions app, see settings.py); flags
override them. The API key is read from USAGE_API_KEY only, never from a flag, so it does not show up in
shell history or the process list.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ServiceRequestError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from company_activity.errors import OperationalError
from company_activity.ingest.backfill import BackfillRequest, DateRange, plan_backfill
from company_activity.ingest.bronze import committed_days, day_statuses, read_manifest, status_body
from company_activity.ingest.dates import parse_iso_date, require_complete_day
from company_activity.ingest.runner import bronze_container, ingest_day_with_settings, public_url
from company_activity.settings import DateSettings, IngestSettings, StorageSettings
from company_activity_local.cli import backfill_load
from company_activity_local.cli.console import logs_through, make_console
from company_activity_local.cli.errors import CommandFailed, storage_errors
from company_activity_local.cli.flags import add_connection_string_flags, add_span_flags, connection_string, span_of
from company_activity_local.cli.journal import Journal

# flag dest -> setting it overrides
_OVERRIDES = {
    "api_url": "USAGE_API_BASE_URL",
    "page_size": "USAGE_API_PAGE_SIZE",
    "timeout": "USAGE_API_TIMEOUT_S",
    "account_url": "STORAGE_ACCOUNT_URL",
    "container": "BRONZE_CONTAINER",
    "timezone": "INGEST_TIMEZONE",
    "max_days": "BACKFILL_MAX_DAYS",
    "reject_threshold": "REJECT_THRESHOLD",
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `ingest`, `backfill` and `ingestions`."""
    ingest = sub.add_parser(
        "ingest", help="ingest one day of product usage into bronze and commit it",
        description="Fetch one day from the usage API, write it to bronze and commit it (exit 0 only if committed). "
                    "A day already committed is skipped (exit 0), as backfill does, unless --force.",
    )
    ingest.add_argument("--date", required=True, help="day to ingest, YYYY-MM-DD (at most yesterday)")
    ingest.add_argument("--force", action="store_true", help="re-ingest the day even when it is already committed")
    ingest.add_argument("--allow-fewer", action="store_true",
                        help="with --force: replace the day even with fewer records (the old run is kept)")
    _api_flags(ingest)
    _storage_flags(ingest)
    ingest.set_defaults(handler=run_ingest)

    backfill = sub.add_parser(
        "backfill", help="ingest a range of days inline, with a progress bar and a summary table",
        description="Ingest every day of --dates START..END in this process. Without --force, days already "
                    "committed are skipped. With --load, then run PL_backfill_company_activity locally over the same "
                    "dates. Exit 0 only when every day is committed (and, with --load, loaded).",
    )
    add_span_flags(backfill, help="the days to ingest, at most yesterday", start_end=True)
    backfill.add_argument("--force", action="store_true", help="re-ingest days that are already committed")
    backfill.add_argument("--allow-fewer", action="store_true",
                          help="with --force: replace committed days even with fewer records (old runs are kept)")
    backfill.add_argument("--keep-going", action="store_true",
                          help="try every date even after a failure that will fail every date (the API unreachable, "
                               "its key refused, storage unreachable); by default the backfill stops there")
    backfill.add_argument("--max-days", type=int, help="largest range allowed (env BACKFILL_MAX_DAYS)")
    _api_flags(backfill)
    _storage_flags(backfill)
    backfill_load.add_flags(backfill)
    backfill.set_defaults(handler=run_backfill)

    status = sub.add_parser(
        "ingestions", help="show which days are committed in bronze",
        description="Per day of --dates START..END: committed or not, record and rejected counts, run id, commit time. "
                    "Needs only the storage settings.",
    )
    add_span_flags(status, help="the days to show, at most yesterday", start_end=True)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument("--max-days", type=int, help="largest range allowed (env BACKFILL_MAX_DAYS)")
    _storage_flags(status)
    status.set_defaults(handler=run_ingestions)


def _api_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("usage API (the key is read from USAGE_API_KEY only)")
    group.add_argument("--api-url", help="base URL of the usage API (env USAGE_API_BASE_URL)")
    group.add_argument("--page-size", type=int, help="records per page (env USAGE_API_PAGE_SIZE)")
    group.add_argument("--timeout", type=float, help="seconds per request (env USAGE_API_TIMEOUT_S)")
    group.add_argument("--reject-threshold", type=float,
                       help="largest rejected share that still commits, 0..1 (env REJECT_THRESHOLD)")


def _storage_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("storage")
    where = group.add_mutually_exclusive_group()
    add_connection_string_flags(where, env="STORAGE_CONNECTION_STRING", what="blob storage")
    where.add_argument("--account-url", help="blob endpoint, signs in with DefaultAzureCredential "
                                             "(env STORAGE_ACCOUNT_URL)")
    group.add_argument("--container", help="bronze container (env BRONZE_CONTAINER)")
    group.add_argument("--timezone", help="IANA zone that defines 'yesterday' (env INGEST_TIMEZONE)")


def settings_env(args: argparse.Namespace) -> dict[str, str]:
    """The environment with the flags given on the command line on top: a flag sets the setting it stands for,
    so the settings groups read and check it (and name it in an error) like any other value."""
    env = dict(os.environ)
    for dest, name in _OVERRIDES.items():
        value = getattr(args, dest, None)
        if value is not None:
            env[name] = str(value)
    # One storage flag replaces the environment's choice of connection string vs account URL.
    connection = connection_string(args)
    if connection is not None:
        env["STORAGE_CONNECTION_STRING"], env["STORAGE_ACCOUNT_URL"] = connection, ""
    if getattr(args, "account_url", None) is not None:
        env["STORAGE_CONNECTION_STRING"] = ""
    return env


def _range(args: argparse.Namespace, dates: DateSettings) -> BackfillRequest:
    days = span_of(args, dates.tz, dates.max_days)
    return BackfillRequest(DateRange(days[0], days[-1]), getattr(args, "force", False),
                           getattr(args, "allow_fewer", False))


def run_ingest(args: argparse.Namespace, journal: Journal) -> None:
    """`company-activity ingest --date D`."""
    env = settings_env(args)
    settings, dates = IngestSettings.from_env(env), DateSettings.from_env(env)
    day = require_complete_day("--date", parse_iso_date("--date", args.date), dates.tz)
    journal.note(f"{day} was not committed (a day commits all at once, so an earlier commit of it is unchanged); "
                 "rerunning the same command ingests it")
    runner_log = logging.getLogger("company_activity.ingest.runner")
    level = runner_log.level
    if not getattr(args, "verbose", False):  # the runner logs the same summary; print it once
        runner_log.setLevel(logging.CRITICAL)
    err = make_console(stderr=True)
    with storage_errors(f"reading the manifest of {day}"):
        container = bronze_container(settings.storage)
        committed = None if args.force else read_manifest(container, day)
    if committed is not None:
        print(f"{day} skipped: already committed (run {committed.run_id}, {committed.record_count} records, "
              f"committed at {committed.committed_at:%Y-%m-%d %H:%M:%S}Z); --force re-ingests it")
        return
    try:
        with logs_through(err), err.status(f"ingesting {day} from {public_url(settings.api.base_url)} "
                                           "(API retries are logged as they happen)"), \
                storage_errors(f"ingesting {day}"):
            result = ingest_day_with_settings(settings, day, container=container, allow_fewer=args.allow_fewer)
    finally:
        runner_log.setLevel(level)
    print(result.summary())
    if not result.committed:
        raise CommandFailed(f"{day} was not committed")


def run_backfill(args: argparse.Namespace, journal: Journal) -> None:
    """`company-activity backfill --dates D1..D2 [--force]`, every date inline."""
    env = settings_env(args)
    settings = IngestSettings.from_env(env)
    request = _range(args, DateSettings.from_env(env))
    # With --load the warehouse comes first: a wrong one must stop us before bronze changes.
    local = backfill_load.prepare(args, settings) if getattr(args, "load", False) else None
    with make_console(stderr=True).status(f"checking which days container {settings.storage.bronze_container!r} "
                                          "has committed"), storage_errors("listing the committed days"):
        container = bronze_container(settings.storage)
        done = () if request.force else committed_days(container, request.range.start, request.range.end)
    plan = plan_backfill(request, done)
    rows: list[tuple[str, str, str, str, str, str]] = [
        (d.isoformat(), "skipped", "", "", "", "already committed (use --force to re-ingest)") for d in plan.skipped
    ]
    failures = 0
    stopped: str | None = None
    committed: list[date] = []
    err = make_console(stderr=True)
    journal.note(_backfill_line(committed, len(plan.enqueue)))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with logs_through(err), Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("backfill", total=len(plan.enqueue))
        for index, day in enumerate(plan.enqueue):
            progress.update(task, description=f"ingesting {day}")
            # Ctrl-C can land after the manifest is written and before the result comes back: name the day.
            journal.note(_backfill_line(committed, len(plan.enqueue), in_flight=day))
            systemic = False
            try:
                result = ingest_day_with_settings(settings, day, container=container,
                                                  allow_fewer=request.allow_fewer)
            except (AzureError, OperationalError) as exc:  # a storage outage on one day: report it, go on
                failures += 1
                systemic = storage_unusable(exc)
                rows.append((day.isoformat(), "ERROR", "", "", "", f"{type(exc).__name__}: {exc}"[:300]))
            else:
                failures += not result.committed
                systemic = not result.committed and result.systemic
                rows.append((day.isoformat(), "committed" if result.committed else "NOT committed",
                              str(result.record_count), str(result.rejected_count), f"{result.seconds:.1f}s",
                              result.run_id if result.committed else f"{result.run_id}: {result.reason}"))
                if result.committed:
                    committed.append(day)
            journal.note(_backfill_line(committed, len(plan.enqueue)))
            progress.advance(task)
            rest = plan.enqueue[index + 1:]
            if systemic and rest and not args.keep_going:
                stopped = (f"stopped after {day}: its failure (the API or storage unreachable, or the key refused) "
                           f"would fail every date; {len(rest)} date(s) not tried ({rest[0]}..{rest[-1]}). Fix the "
                           "cause and run the backfill again, or pass --keep-going to try every date anyway")
                rows.extend((d.isoformat(), "not tried", "", "", "", "backfill stopped") for d in rest)
                break
    if local is not None and not stopped:
        ingested = {date.fromisoformat(r[0]): backfill_load.IngestRow(r[1], r[2], r[5]) for r in rows}
        backfill_load.run_load(args, settings, request.range.start, request.range.end, ingested, journal, local)
        return
    table = Table(title=f"backfill {request.range.start}..{request.range.end}"
                        f" ({len(plan.enqueue)} ingested, {len(plan.skipped)} skipped, {failures} failed)")
    for column in ("date", "status", "records", "rejected", "time", "run / reason"):
        table.add_column(column, overflow="fold")
    for row in sorted(rows):
        table.add_row(*(escape(cell) for cell in row))
    make_console().print(table)
    if stopped:
        raise CommandFailed(stopped + ("; --load: the load was not started" if getattr(args, "load", False) else ""))
    if failures:
        raise CommandFailed(f"{failures} of {len(plan.enqueue)} date(s) were not committed (see the table)")


def _backfill_line(committed: list[date], total: int, in_flight: date | None = None) -> str:
    """The interruption line of a backfill: what is committed, and that the same command goes on from there."""
    done = f" ({committed[0]}..{committed[-1]})" if committed else ""
    busy = f"; {in_flight} was being ingested: it is committed whole or not at all" if in_flight else ""
    return (f"{len(committed)} of {total} date(s) committed{done}{busy}; rerunning the same command resumes "
            "(committed dates are skipped)")


def storage_unusable(exc: BaseException) -> bool:
    """A storage error no other date can escape: no connection, or credentials refused."""
    if isinstance(exc, ServiceRequestError | ClientAuthenticationError):
        return True
    return isinstance(exc, HttpResponseError) and exc.status_code in (401, 403)


def run_ingestions(args: argparse.Namespace, journal: Journal) -> None:
    """`company-activity ingestions --dates D1..D2 [--json]`."""
    env = settings_env(args)
    storage = StorageSettings.from_env(env)  # the API settings are not needed, so they are not read
    request = _range(args, DateSettings.from_env(env))
    with make_console(stderr=True).status(f"reading the bronze manifests of {request.range.start}.."
                                          f"{request.range.end} from container {storage.bronze_container!r}"), \
            storage_errors(f"reading the manifests of container {storage.bronze_container!r}"):
        days = day_statuses(bronze_container(storage), request.range.start, request.range.end)
    if args.json:
        json.dump(status_body(request.range.start, request.range.end, days), sys.stdout, indent=2)
        print()
        return
    committed = sum(d.committed for d in days)
    table = Table(title=f"container {storage.bronze_container!r}: {committed} of {len(days)} days committed")
    for column in ("date", "committed", "records", "rejected", "run id", "committed at"):
        table.add_column(column)
    for d in days:
        row = d.to_dict()
        table.add_row(row["date"], "yes" if d.committed else "[red]no[/]",
                      *(escape(str(row[k])) if row[k] is not None else "" for k in
                        ("record_count", "rejected_count", "run_id", "committed_at")))
    make_console().print(table)
