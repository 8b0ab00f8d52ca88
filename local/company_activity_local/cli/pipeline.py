"""`company-activity pipeline run | validate`: the Data Factory pipeline, run locally or checked offline.

`pipeline run` executes the adf/ JSON with the local executor: linked services map to local resources
through LOCAL_BLOB_CONNECTION_STRING, WAREHOUSE_PATH / WAREHOUSE_CONNECTION_STRING and SLACK_WEBHOOK_URL
(see docs/local.md). It prints each activity as it finishes and a table at the end, and exits 1 when
a run Failed. With `--dates START..END` it runs the dates in order and stops at the first failed one,
because a later date's CRM set can depend on the earlier ones (docs/fact-rules.md, rule 6).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from company_activity.ingest.dates import parse_iso_date, require_complete_day, require_span
from company_activity.settings import SettingsError, date_limits
from company_activity_local.cli.console import make_console
from company_activity_local.pipeline.context import WaitEvent
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.local_resources import LocalResources, LocalRunSettings
from company_activity_local.pipeline.report import activity_line, print_run
from company_activity_local.pipeline.resources import ADF_DIR, ResourceError, load_factory
from company_activity_local.pipeline.results import PipelineDefinitionError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DAILY_PIPELINE = "PL_daily_company_activity"
RUN_DATE_PARAMETER = "runDate"
# Local runs are attended: short waits, each one printed as it starts. The adf/ JSON keeps production values.
LOCAL_RETRY_INTERVAL_S = 5.0
LOCAL_MANIFEST_TIMEOUT = "0.00:01:00"
LOCAL_MANIFEST_SLEEP_S = 5
_WAIT_OPTION = {"retry": "--retry-interval", "poll": "--manifest-timeout / --manifest-sleep"}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `pipeline run` and `pipeline validate`."""
    pipeline = sub.add_parser("pipeline", help="run the Data Factory pipeline locally, or validate adf/",
                              description="The adf/ pipeline: `run` executes it locally, `validate` checks the JSON.")
    actions = pipeline.add_subparsers(dest="pipeline_command", required=True, metavar="ACTION")

    run = actions.add_parser(
        "run", help="run the pipeline locally for one date or a range of dates",
        description="Execute the pipeline's JSON against Azurite and the local warehouse (settings: "
                    "LOCAL_BLOB_CONNECTION_STRING, WAREHOUSE_PATH or WAREHOUSE_CONNECTION_STRING, SLACK_WEBHOOK_URL). "
                    "Exit 0 only when every run Succeeded.",
    )
    when = run.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", help=f"the run date (pipeline parameter {RUN_DATE_PARAMETER}), YYYY-MM-DD")
    when.add_argument("--dates", help="a range START..END (inclusive), run in order, stopping at the first failure")
    run.add_argument("--pipeline", default=DAILY_PIPELINE, help=f"pipeline name (default {DAILY_PIPELINE})")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="another pipeline parameter, e.g. manifestTimeout=0.00:00:30 (repeatable)")
    run.add_argument("--global", dest="globals", action="append", default=[], metavar="NAME=VALUE",
                     help="override a factory global parameter, e.g. bronzeContainer=bronze (repeatable)")
    run.add_argument("--warehouse", type=Path, help="DuckDB file (overrides WAREHOUSE_PATH)")
    run.add_argument("--retry-interval", type=float, default=LOCAL_RETRY_INTERVAL_S, metavar="SECONDS",
                     help="wait this long between activity retries instead of each policy's retryIntervalInSeconds "
                          f"(the adf/ JSON waits 30-300 s; default here {LOCAL_RETRY_INTERVAL_S:g} s; the number of "
                          "retries is unchanged)")
    run.add_argument("--manifest-timeout", default=LOCAL_MANIFEST_TIMEOUT, metavar="D.HH:MM:SS",
                     help="how long WaitForManifest waits for the day's bronze manifest (pipeline parameter "
                          f"manifestTimeout; the adf/ JSON default is 6 hours; default here {LOCAL_MANIFEST_TIMEOUT})")
    run.add_argument("--manifest-sleep", type=int, default=LOCAL_MANIFEST_SLEEP_S, metavar="SECONDS",
                     help="seconds between two manifest checks (pipeline parameter manifestSleepSeconds; the adf/ "
                          f"JSON default is 300; default here {LOCAL_MANIFEST_SLEEP_S})")
    run.add_argument("--adf-dir", type=Path, default=ADF_DIR, help="the ADF git folder (default: the repo's adf/)")
    run.set_defaults(handler=run_pipeline)

    validate = actions.add_parser(
        "validate", help="validate adf/ offline (structure, references, expressions, alerting, local support)",
        description="Check the ADF JSON against the Data Factory SDK models and this repo's rules, and that the "
                    "local executor supports every activity type and expression function it uses.",
    )
    validate.add_argument("--adf-dir", type=Path, default=ADF_DIR, help="the ADF git folder (default: the repo's adf/)")
    validate.set_defaults(handler=validate_pipeline)


def parse_assignments(items: Sequence[str], flag: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{flag} expects NAME=VALUE, got {item!r}")
        values[name.strip()] = value
    return values


def parse_dates(single: str | None, span: str | None, env: Mapping[str, str] | None = None) -> list[date]:
    """The run dates: complete days only (INGEST_TIMEZONE), a range at most BACKFILL_MAX_DAYS long."""
    zone, max_days = date_limits(env)
    if single is not None:
        return [require_complete_day("--date", parse_iso_date("--date", single), zone)]
    assert span is not None
    start, sep, end = span.partition("..")
    if not sep:
        raise ValueError(f"--dates expects START..END, got {span!r}")
    first, last = parse_iso_date("--dates start", start), parse_iso_date("--dates end", end)
    days = require_span("--dates", first, last, max_days)
    require_complete_day("--dates end", last, zone)
    return days


def run_pipeline(args: argparse.Namespace) -> int:
    console = make_console()
    if not getattr(args, "verbose", False):
        logging.getLogger("azure").setLevel(logging.WARNING)  # one log line per HTTP request otherwise
    try:
        days = parse_dates(args.date, args.dates)
        parameters = parse_assignments(args.param, "--param")
        overrides = parse_assignments(args.globals, "--global")
        settings = LocalRunSettings.from_env()
        if args.warehouse is not None:
            settings = LocalRunSettings(settings.blob_connection_string, args.warehouse, None,
                                        settings.slack_webhook_url)
        factory = load_factory(args.adf_dir)
    except (ValueError, SettingsError, ResourceError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_USAGE
    if RUN_DATE_PARAMETER in parameters:
        console.print(f"[red]error:[/] set the run date with --date/--dates, not --param {RUN_DATE_PARAMETER}=...")
        return EXIT_USAGE

    declared = (factory.pipelines.get(args.pipeline) or {}).get("properties", {}).get("parameters") or {}
    for name, value in (("manifestTimeout", args.manifest_timeout), ("manifestSleepSeconds", args.manifest_sleep)):
        if name in declared:
            parameters.setdefault(name, value)
    console.print(f"warehouse: {escape(settings.describe_warehouse())}")
    with LocalResources(settings) as resources:
        if not deploy_warehouse(console, resources):
            return EXIT_FAILED
        try:
            executor = PipelineExecutor(factory, resources, global_parameters=overrides,
                                        listener=lambda r: console.print(activity_line(r)),
                                        retry_interval_s=args.retry_interval,
                                        wait_listener=lambda e: console.print(wait_line(e)))
        except (PipelineDefinitionError, ValueError) as exc:
            console.print(f"[red]error:[/] {escape(str(exc))}")
            return EXIT_USAGE
        for index, day in enumerate(days):
            console.rule(f"{args.pipeline} {RUN_DATE_PARAMETER}={day}")
            try:
                result = executor.run(args.pipeline, {**parameters, RUN_DATE_PARAMETER: day.isoformat()})
            except PipelineDefinitionError as exc:
                console.print(f"[red]error:[/] {escape(str(exc))}")
                return EXIT_USAGE
            print_run(console, result)
            if not result.succeeded:
                rest = days[index + 1:]
                if rest:
                    console.print(f"[yellow]stopped: {len(rest)} later date(s) not run ({rest[0]}..{rest[-1]})[/]")
                return EXIT_FAILED
    return EXIT_OK


def deploy_warehouse(console: Console, resources: LocalResources) -> bool:
    """Deploy the warehouse as `transform` does (idempotent: only migrations not applied yet), so a run
    never fails on a missing staging table or procedure."""
    from company_activity_local.warehouse import WarehouseError

    try:
        report = resources.warehouse.deploy()
    except WarehouseError as exc:
        console.print(f"[red]error:[/] cannot deploy the warehouse: {escape(str(exc))}")
        return False
    if report.applied:
        console.print(f"deployed the warehouse: {len(report.applied)} migration(s) applied")
    return True


def wait_line(event: WaitEvent) -> str:
    """One printed line per wait: what is awaited, how long, which option shortens it."""
    detail = event.detail if len(event.detail) <= 200 else event.detail[:197] + "..."
    if event.kind == "queued":  # a run waiting for a slot of its pipeline's concurrency: no fixed wait
        return f"[yellow]queued[/] {escape(event.activity)}: {escape(detail)}"
    what = "retrying" if event.kind == "retry" else "waiting"
    return (f"[yellow]{what}[/] {escape(event.activity)}: {escape(detail)}; next try in {event.seconds:g}s "
            f"[dim](shorten with {_WAIT_OPTION.get(event.kind, 'the pipeline parameters')})[/]")


def validate_pipeline(args: argparse.Namespace) -> int:
    from company_activity_local.pipeline.validate import validate_directory

    console = make_console()
    problems = [str(p) for p in validate_directory(args.adf_dir)]
    try:
        factory = load_factory(args.adf_dir)
    except ResourceError:
        factory = None  # already reported by validate_directory
    if factory is not None:
        for name, pipeline in factory.pipelines.items():
            activities = list(pipeline.get("properties", {}).get("activities") or [])
            executor = PipelineExecutor(factory, resources=None)
            problems += [f"{factory.file_of('pipeline', name)}: local executor: {p}"
                         for p in executor.definition_problems(activities)]
    for problem in problems:
        console.print(f"[red]x[/] {escape(problem)}")
    if problems:
        console.print(f"[red]{len(problems)} problem(s)[/] in {args.adf_dir}")
        return EXIT_FAILED
    count = len(factory.pipelines) if factory else 0
    console.print(f"[green]ok[/]: {args.adf_dir} is valid ({count} pipeline(s), all runnable by the local executor)")
    return EXIT_OK

