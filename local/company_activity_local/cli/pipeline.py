"""`company-activity pipeline run | validate`: the Data Factory pipeline, run locally or checked offline.

`pipeline run` executes the adf/ JSON with the local executor: linked services map to local resources
through LOCAL_BLOB_CONNECTION_STRING, WAREHOUSE_PATH / WAREHOUSE_CONNECTION_STRING and SLACK_WEBHOOK_URL
(see docs/local.md). It prints each activity that ran as it finishes and a summary line per run
(`--verbose`: the skipped activities too, and a table per run), and exits 1 when a run Failed. With
`--dates START..END` it runs the dates in order and stops at the first failed one,
because a later date's CRM set can depend on the earlier ones (docs/fact-rules.md, rule 6).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

from azure.core.exceptions import ServiceRequestError
from rich.console import Console
from rich.markup import escape

from company_activity_local.cli.console import make_console
from company_activity_local.cli.errors import SERVICES_UP_HINT, CommandFailed, UsageError
from company_activity_local.cli.flags import add_span_flags, days_of, seconds
from company_activity_local.cli.journal import Journal
from company_activity_local.pipeline.context import WaitEvent
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.local_resources import LocalResources, prepare_warehouse_file
from company_activity_local.pipeline.report import activity_line, last_load_log, print_run, ran
from company_activity_local.pipeline.resources import ADF_DIR, ResourceError, load_factory
from company_activity_local.pipeline.results import ActivityResult, PipelineRunResult
from company_activity_local.pipeline.run_records import RunRecordFile
from company_activity_local.settings import LocalRunSettings, warehouse_flag

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
    add_span_flags(run, help=f"the run dates (pipeline parameter {RUN_DATE_PARAMETER}), run in order, stopping at "
                             "the first failure")
    run.add_argument("--pipeline", default=DAILY_PIPELINE, help=f"pipeline name (default {DAILY_PIPELINE})")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="another pipeline parameter, e.g. manifestTimeout=0.00:00:30 (repeatable)")
    run.add_argument("--global", dest="globals", action="append", default=[], metavar="NAME=VALUE",
                     help="override a factory global parameter, e.g. bronzeContainer=bronze (repeatable)")
    run.add_argument("--warehouse", type=Path, help="DuckDB file (overrides WAREHOUSE_PATH)")
    run.add_argument("--retry-interval", type=seconds, default=LOCAL_RETRY_INTERVAL_S, metavar="SECONDS",
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
    run.add_argument("--verbose", dest="every_activity", action="store_true",
                     help="also print the activities that were skipped, and a table of every activity per run "
                          "(default: one line per activity that ran and a summary line per run)")
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
            raise UsageError(f"{flag} expects NAME=VALUE, got {item!r}")
        values[name.strip()] = value
    return values


def run_pipeline(args: argparse.Namespace, journal: Journal) -> None:
    console = make_console()
    days = days_of(args)
    parameters = parse_assignments(args.param, "--param")
    overrides = parse_assignments(args.globals, "--global")
    if RUN_DATE_PARAMETER in parameters:
        raise UsageError(f"set the run date with --date/--dates, not --param {RUN_DATE_PARAMETER}=...")
    settings = LocalRunSettings.from_env()
    if args.warehouse is not None:
        settings = replace(settings, warehouse=warehouse_flag(args.warehouse))
    factory = load_factory(args.adf_dir)
    declared = (factory.pipelines.get(args.pipeline) or {}).get("properties", {}).get("parameters") or {}
    for name, value in (("manifestTimeout", args.manifest_timeout), ("manifestSleepSeconds", args.manifest_sleep)):
        if name in declared:
            parameters.setdefault(name, value)
    new = (prepare_warehouse_file(settings.warehouse.duckdb_path) if settings.warehouse.connection_string is None
           else None)
    console.print(escape(new) if new else f"warehouse: {escape(settings.describe_warehouse())}")
    every = bool(getattr(args, "every_activity", False))

    def show(result: ActivityResult) -> None:
        if every or ran(result):
            console.print(activity_line(result, console.width))

    with LocalResources(settings) as resources:
        deploy_warehouse(console, resources)
        executor = PipelineExecutor(factory, resources, global_parameters=overrides, listener=show,
                                    retry_interval_s=args.retry_interval,
                                    wait_listener=lambda e: console.print(wait_line(e)),
                                    run_log=RunRecordFile.for_settings(settings.warehouse))
        for index, day in enumerate(days):
            journal.note(_interrupted_line(days, index))
            console.print(f"[bold]{escape(args.pipeline)} {RUN_DATE_PARAMETER}={day}[/]")
            result = executor.run(args.pipeline, {**parameters, RUN_DATE_PARAMETER: day.isoformat()})
            print_run(console, result, last_load_log(resources.warehouse, result.run_id), verbose=every)
            if not result.succeeded:
                rest = days[index + 1:]
                later = f"; {len(rest)} later date(s) not run ({rest[0]}..{rest[-1]})" if rest else ""
                hint = f" ({SERVICES_UP_HINT})" if storage_unreachable(result) else ""
                raise CommandFailed(f"{args.pipeline} {RUN_DATE_PARAMETER}={day} {result.status.value}{later}{hint}")


def storage_unreachable(result: PipelineRunResult) -> bool:
    """An activity failed because no connection to blob storage could be made (the executor names the SDK's
    exception type in the error it records for an activity's unexpected exception)."""
    return any(a.error is not None and a.error.error_code == "LocalExecutorError"
               and a.error.message.startswith(f"{ServiceRequestError.__name__}:") for a in result.activities)


def _interrupted_line(days: Sequence[date], index: int) -> str:
    """Ctrl-C during the run of days[index]: what is loaded, and the command that goes on from there."""
    done = f" ({days[0]}..{days[index - 1]})" if index else ""
    return (f"{index} of {len(days)} date(s) loaded{done}; {days[index]} was cut short (its fact rows change only "
            f"when its merge commits); rerun with --dates {days[index]}..{days[-1]} to go on (loading a date again "
            "replaces it)")


def deploy_warehouse(console: Console, resources: LocalResources) -> None:
    """Deploy the warehouse as `transform` does (idempotent: only migrations not applied yet), so a run
    never fails on a missing staging table or procedure."""
    from company_activity_local.warehouse import WarehouseError

    try:
        report = resources.warehouse.deploy()
    except WarehouseError as exc:
        raise CommandFailed(f"cannot deploy the warehouse: {exc}") from exc
    if report.applied:
        console.print(f"deployed the warehouse: {len(report.applied)} migration(s) applied")


def wait_line(event: WaitEvent) -> str:
    """One printed line per wait: what is awaited, how long, which option shortens it."""
    detail = event.detail if len(event.detail) <= 200 else event.detail[:197] + "..."
    if event.kind == "queued":  # a run waiting for a slot of its pipeline's concurrency: no fixed wait
        return f"[yellow]queued[/] {escape(event.activity)}: {escape(detail)}"
    what = "retrying" if event.kind == "retry" else "waiting"
    return (f"[yellow]{what}[/] {escape(event.activity)}: {escape(detail)}; next try in {event.seconds:g}s "
            f"[dim](shorten with {_WAIT_OPTION.get(event.kind, 'the pipeline parameters')})[/]")


def validate_pipeline(args: argparse.Namespace, journal: Journal) -> None:
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
        raise CommandFailed(f"{len(problems)} problem(s) in {args.adf_dir}")
    count = len(factory.pipelines) if factory else 0
    console.print(f"[green]ok[/]: {args.adf_dir} is valid ({count} pipeline(s), all runnable by the local executor)")
