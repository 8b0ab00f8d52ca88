"""`company-activity demo` (what `make demo` runs): the whole night locally, with progress and a summary."""

from __future__ import annotations

import argparse
import logging
from datetime import date
from pathlib import Path

from azure.core.exceptions import AzureError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from company_activity.errors import OperationalError
from company_activity.ingest.dates import parse_iso_date, require_complete_day
from company_activity_local.cli.console import make_console
from company_activity_local.cli.errors import CommandFailed, UsageError
from company_activity_local.cli.flags import DeprecatedAlias, add_out_flag, parse_span
from company_activity_local.cli.journal import Journal
from company_activity_local.demo.check import LateBackfillCheck
from company_activity_local.demo.night import MAX_DAYS, DateRun, DemoObserver, DemoOptions, DemoSummary, run_demo
from company_activity_local.pipeline.report import STYLE, activity_line
from company_activity_local.pipeline.results import ActivityResult, PipelineRunResult, Status
from company_activity_local.services.slack_catcher import CaughtMessage
from company_activity_local.settings import ServicesSettings, out_dir

log = logging.getLogger(__name__)
DEFAULT_DAYS = 14


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser(
        "demo", help="the whole night locally: simulator, ingestion, ADF pipeline, DuckDB warehouse",
        description="Start Azurite, the usage-API simulator and a Slack catcher; ingest the last DAYS days; run "
                    "the Data Factory pipeline locally for each date into a DuckDB warehouse; print a summary. "
                    "Everything started is stopped at the end.",
    )
    demo.add_argument("--days", type=int, help=f"days to load, ending yesterday (default {DEFAULT_DAYS})")
    demo.add_argument("--dates", metavar="START..END", help="the days to load instead (at most 366)")
    demo.add_argument("--companies", type=int, default=500, help="companies the simulator serves (default 500)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the simulated usage and CRM data (default 7)")
    add_out_flag(demo, default=None, help="output folder (default $LOCAL_OUT_DIR, else out/)")
    demo.add_argument("--warehouse", type=Path, help="DuckDB file (default OUT/warehouse.duckdb; replaced if present)")
    demo.add_argument("--end", action=DeprecatedAlias, replacement="--dates START..END")
    demo.add_argument("--verbose-activities", action="store_true", help="print every activity of every run")
    demo.add_argument("--keep-services", action="store_true",
                      help="start Azurite and the simulator with `services up` (data in OUT/services) and leave them "
                           "running, to go on by hand; prints the export lines")
    demo.set_defaults(handler=run)


class ConsoleObserver(DemoObserver):
    def __init__(self, console: Console, verbose: bool) -> None:
        self.console = console
        self.verbose = verbose
        self.progress: Progress | None = None
        self.task: object = None
        self.ingest_table = Table(title="ingestion (usage API -> bronze)", title_justify="left")
        for column in ("date", "records", "rejected", "bytes", "seconds", "committed"):
            self.ingest_table.add_column(column, justify="left" if column == "date" else "right", no_wrap=True)
        self.pipeline_table = Table(title=f"pipeline runs ({escape('PL_daily_company_activity')})",
                                    title_justify="left")
        self.pipeline_table.caption = "usage, CRM: rows copied to staging; ins, upd, del: fact rows the merge changed"
        for column in ("runDate", "status", "seconds", "usage", "CRM", "ins", "upd", "del"):
            self.pipeline_table.add_column(column, justify="left" if column in ("runDate", "status") else "right",
                                           no_wrap=True)

    def started(self, what: str, detail: str) -> None:
        self.console.print(f"[green]started[/] {what}: {escape(detail)}")

    def ingest_begin(self, total: int) -> None:
        self.progress = Progress(TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=self.console, transient=True)
        self.progress.start()
        self.task = self.progress.add_task("ingest", total=total)

    def ingested(self, run: DateRun) -> None:
        r = run.ingest
        self.ingest_table.add_row(str(r.date), str(r.record_count), str(r.rejected_count), f"{r.bytes:,}",
                                  f"{r.seconds:.2f}", "[green]yes[/]" if r.committed else f"[red]no[/] {r.reason}")
        if self.progress is not None:
            self.progress.advance(self.task)  # type: ignore[arg-type]

    def ingest_end(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.console.print(self.ingest_table)

    def pipeline_begin(self, day: date) -> None:
        if self.verbose:
            self.console.rule(f"PL_daily_company_activity runDate={day}")

    def activity(self, result: ActivityResult) -> None:
        if self.verbose or result.status is Status.FAILED:
            self.console.print(activity_line(result))

    def pipeline_done(self, run: DateRun) -> None:
        result = run.pipeline
        assert result is not None
        copied = {a.name: a.output for a in result.activities if a.type == "Copy" and a.output}
        log = run.load_log or {}
        self.pipeline_table.add_row(
            str(run.day), f"[{STYLE[result.status]}]{result.status.value}[/]", f"{result.duration_s:.2f}",
            str(copied.get("CopyUsageToStaging", {}).get("rowsCopied", "")),
            str(copied.get("CopyCrmToStaging", {}).get("rowsCopied", "")),
            str(log.get("rows_inserted", "")), str(log.get("rows_updated", "")), str(log.get("rows_deleted", "")),
        )
        if not result.succeeded:
            self.console.print(f"[red]{run.day}: {escape(result.message)}[/]")

    def alert(self, message: CaughtMessage) -> None:
        self.console.print(f"[bold red]Slack alert received:[/]\n{escape(message.text)}")

    def injecting(self, day: date, what: str, expected: str) -> None:
        self.console.print(f"[bold yellow]now a failure on purpose:[/] PL_daily_company_activity for {day}: "
                           f"{escape(what)}. Expected: {escape(expected)}. Try it yourself later with "
                           f"`company-activity pipeline run --date {day}`.")

    def late_backfill_begin(self, days: list[date]) -> None:
        self.console.print(f"late backfill: {days[0]}..{days[-1]} ({len(days)} dates held back) ingested and loaded "
                           "now, after the later dates, with PL_backfill_company_activity")
        self.ingest_table = Table(title="late backfill: ingestion (usage API -> bronze)", title_justify="left")
        for column in ("date", "records", "rejected", "bytes", "seconds", "committed"):
            self.ingest_table.add_column(column, justify="left" if column == "date" else "right", no_wrap=True)

    def late_backfill_done(self, run: PipelineRunResult) -> None:
        self.console.print(f"late backfill {escape(run.pipeline_name)}: [{STYLE[run.status]}]{run.status.value}[/] "
                           f"in {run.duration_s:.1f}s (run id {run.run_id})")
        if run.message:
            self.console.print(f"[red]{escape(run.message)}[/]")

    def late_backfill_checked(self, check: LateBackfillCheck) -> None:
        self.console.print(f"[{'green' if check.passed else 'bold red'}]{escape(check.line())}[/]")


def print_summary(console: Console, summary: DemoSummary, observer: ConsoleObserver, last: date,
                  options: DemoOptions) -> None:
    console.print(observer.pipeline_table)
    with_usage = summary.companies - summary.crm_only_companies
    served = (f"the {options.companies} companies the simulator served" if with_usage == options.companies else
              f"{with_usage} of the {options.companies} companies the simulator served")
    console.print(f"fact_daily_company_activity: [bold]{summary.fact_rows}[/] rows for {served} (--companies) and "
                  f"{summary.crm_only_companies} CRM-only companies (in the CRM, never any usage: docs/crm.md); on "
                  f"{last}: [bold]{summary.churn_risk_companies}[/] churn-risk companies, "
                  f"{summary.crm_only_churn_risk} of them CRM-only")
    if summary.top_risk:
        table = Table(title=f"who to call first on {last} (rpt.call_list, ranked as the dashboard ranks them)",
                      title_justify="left")
        for column in ("company", "name", "why first", "7d avg", "last contact"):
            table.add_column(column, no_wrap=True, overflow="ellipsis",
                             justify="right" if column == "7d avg" else "left")
        for row in summary.top_risk:
            since = row["days_since_last_contact"]
            table.add_row(row["company_id"], escape(row["company_name"] or ""), row["severity_label"],
                          f"{row['rolling_avg']:.2f}", "never" if since is None else f"{since} days ago")
        console.print(table)
    injected = summary.injected
    if injected is not None:
        console.print(f"injected failure on {injected.day}: {injected.what}; the run ended "
                      f"[{STYLE[injected.result.status]}]{injected.result.status.value}[/] and posted "
                      f"{len(injected.alerts)} Slack alert(s), as announced")
    unexpected = len(summary.alerts) - (len(injected.alerts) if injected is not None else 0)
    if unexpected:
        console.print(f"[red]{unexpected} Slack alert(s) were posted by the night's runs[/]")
    path = escape(str(summary.warehouse))
    console.print(f"\nwarehouse: [bold]{path}[/] (DuckDB, kept)")
    if options.keep_services:
        console.print(f"bronze and CRM snapshots: in Azurite, still running, with its data in "
                      f"{escape(str(options.services_dir / 'azurite'))} (kept by `services down`)")
    else:
        console.print("bronze and CRM snapshots: they lived in an in-memory Azurite, stopped with the demo, so they "
                      "are gone (--keep-services keeps them on disk, in OUT/services/azurite)")
    console.print("next steps:")
    dashboard = escape(str(summary.dashboard.resolve())) if summary.dashboard is not None else "(not written)"
    # soft_wrap: the commands stay on one line each, so they can be copied whatever the terminal width.
    for line in (
        f"  1. open the dashboard in a browser: [bold]{dashboard}[/]",
        f"  2. query the warehouse: company-activity show fact --warehouse {path} --date {last} --churn-risk "
        f"(or show load-log; Python: duckdb.connect('{path}', read_only=True))",
        "  3. run the stages yourself, in a folder of their own: docs/local.md, \"Running the stages by hand\" "
        "(docs/README.md has a reading order)",
    ):
        console.print(line, soft_wrap=True, highlight=False)
    console.print(f"done in {summary.seconds:.1f}s" + ("." if options.keep_services else
                                                        "; every local service was stopped."))


def print_kept_services(console: Console, options: DemoOptions) -> None:
    from company_activity_local.services.background import exports, read_state

    state = read_state(options.services_dir)
    if state is None:
        return
    console.print(f"[yellow]kept running[/] (stop with `company-activity services down --dir {options.services_dir}`): "
                  + ", ".join(f"{p.name} pid {p.pid}" for p in state.processes)
                  + f". Go on by hand with:\n  eval \"$(company-activity services env --dir {options.services_dir})\"")
    console.print("\n".join(exports(state)), soft_wrap=True, highlight=False, markup=False)


def _window(args: argparse.Namespace) -> tuple[int, date | None]:
    """(number of days, last day) from --dates, or from --days and the old --end (default: 14 days to yesterday)."""
    if args.dates is not None:
        if args.days is not None or args.end is not None:
            raise UsageError("give --dates or --days, not both")
        first, last = parse_span(args.dates)
        require_complete_day("--dates end", last)
        if not 1 <= (last - first).days + 1 <= MAX_DAYS:
            raise UsageError(f"--dates must span 1..{MAX_DAYS} days, got {args.dates!r}")
        return (last - first).days + 1, last
    end = require_complete_day("--end", parse_iso_date("--end", args.end)) if args.end else None
    return (DEFAULT_DAYS if args.days is None else args.days), end


def run(args: argparse.Namespace, journal: Journal) -> None:
    console = make_console()
    if not getattr(args, "verbose", False):
        # The demo shows its own progress; per-request and per-day logs would bury it (-v brings them back).
        for name in ("azure", "company_activity", "company_activity_local"):
            logging.getLogger(name).setLevel(logging.WARNING)
    days, end = _window(args)
    options = DemoOptions(days=days, companies=args.companies, seed=args.seed, out=args.out or out_dir().folder,
                          warehouse=args.warehouse, end=end, keep_services=args.keep_services,
                          free_ports=ServicesSettings.from_env().free_ports)
    services = ("every local service was stopped" if not options.keep_services else
                f"the kept services still run (stop them: company-activity services down --dir {options.services_dir})")
    journal.note(f"{services}; the demo's warehouse is rebuilt from scratch when you run it again")
    observer = ConsoleObserver(console, args.verbose_activities)
    dates = options.dates()
    console.print(f"demo: {options.days} days ({dates[0]}..{dates[-1]}), {options.companies} companies, "
                  f"seed {options.seed}")
    try:
        summary = run_demo(options, observer)
    except (OperationalError, AzureError) as exc:  # a service that did not start, a broken warehouse file, ...
        raise CommandFailed(f"demo failed: {exc}; {services}") from exc
    print_summary(console, summary, observer, dates[-1], options)
    if options.keep_services:
        print_kept_services(console, options)
    if not summary.succeeded:
        raise CommandFailed("the demo's night did not succeed: a run failed or the late backfill check found a "
                            "difference (see above)")
