"""`company-activity show fact | load-log | rejects`: look at the results, as tables or as JSON.

`fact` and `load-log` read the warehouse (resolved like every command: --warehouse, else WAREHOUSE_PATH /
WAREHOUSE_CONNECTION_STRING, else $LOCAL_OUT_DIR/warehouse.duckdb) through the same T-SQL translator as the pipeline;
`rejects` reads a day's rejected records from bronze through `ingest/bronze.py`.

Exit codes: 0 rows shown; 1 no row matched (said on stderr, with the dates that are loaded; `--json` still
prints `[]`), or the warehouse or storage failed; 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from company_activity.ingest.bronze import iter_committed_rejects, iter_run_rejects, read_manifest, run_ids
from company_activity.ingest.dates import parse_iso_date
from company_activity_local.cli.console import make_console
from company_activity_local.cli.errors import CommandFailed, UsageError, storage_errors
from company_activity_local.cli.journal import Journal
from company_activity_local.cli.storage_args import add_storage_flags, container, storage_settings
from company_activity_local.cli.tables import Column, fitted_table
from company_activity_local.settings import warehouse_target

FACT_COLUMNS = ("activity_date", "company_id", "company_name", "industry_tag", "country", "daily_active_users",
                "daily_events_count", "7d_rolling_active_users", "days_since_last_contact", "is_churn_risk",
                "churn_risk_reason", "load_run_id")
# The table for people leaves out what is wide and rarely needed at a glance; --json has every column.
FACT_TABLE = (("date", "activity_date"), ("company", "company_id"), ("name", "company_name"),
              ("users", "daily_active_users"), ("events", "daily_events_count"),
              ("7d avg", "7d_rolling_active_users"), ("days since\ncontact", "days_since_last_contact"),
              ("churn risk", "churn_risk_reason"))
LOAD_LOG_TABLE = (("load", "load_id"), ("run date", "run_date"), ("status", "status"), ("ins", "rows_inserted"),
                  ("upd", "rows_updated"), ("del", "rows_deleted"), ("message", "message"), ("run id", "run_id"))
WRAPS = frozenset({"company_name", "message", "churn_risk_reason"})  # free text: wraps in what is left
OPTIONAL = frozenset({"run_id"})  # left out when a table would not fit the terminal otherwise
LOAD_LOG_COLUMNS = ("load_id", "run_id", "run_date", "status", "rows_inserted", "rows_updated", "rows_deleted",
                    "started_at", "finished_at", "message")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    show = sub.add_parser("show", help="look at the results: fact rows, etl.load_log, a day's rejected records",
                          description="Tables for people, --json (one JSON document on stdout) for scripts.")
    what = show.add_subparsers(dest="show_command", required=True, metavar="WHAT")

    fact = what.add_parser("fact", help="rows of dbo.fact_daily_company_activity",
                           description="Fact rows, newest date first, then by company id.")
    fact.add_argument("--date", help="only this activity_date, YYYY-MM-DD")
    fact.add_argument("--company", help="only this company_id")
    fact.add_argument("--churn-risk", action="store_true", help="only rows with is_churn_risk = 1")
    fact.add_argument("--limit", type=int, default=50, help="at most N rows (default 50)")
    _warehouse_flags(fact)
    fact.set_defaults(handler=run_fact)

    log = what.add_parser("load-log", help="rows of etl.load_log (one per procedure run)",
                          description="etl.load_log, newest first: status, rows inserted/updated/deleted, message.")
    log.add_argument("--date", help="only runs for this run_date, YYYY-MM-DD")
    log.add_argument("--limit", type=int, default=20, help="at most N rows (default 20)")
    _warehouse_flags(log)
    log.set_defaults(handler=run_load_log)

    rejects = what.add_parser(
        "rejects", help="a day's rejected usage records, as bronze stores them",
        description="The rejected records of the day's committed run ({\"record\", \"reason\"} from its "
                    "rejected-*.jsonl.gz, verified against the manifest), or with --run those of any run folder "
                    "of the day (e.g. a run not committed because of REJECT_THRESHOLD).",
    )
    rejects.add_argument("--date", required=True, help="the day, YYYY-MM-DD")
    rejects.add_argument("--run", metavar="RUN_ID", help="a run folder of the day instead of the committed run")
    rejects.add_argument("--limit", type=int, default=100, help="at most N records (default 100)")
    rejects.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rejects.add_argument("--container", help="bronze container (env BRONZE_CONTAINER, default bronze)")
    add_storage_flags(rejects)
    rejects.set_defaults(handler=run_rejects)


def _warehouse_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--warehouse", type=Path, metavar="PATH.duckdb",
                        help="DuckDB file (default: $WAREHOUSE_PATH, else $LOCAL_OUT_DIR/warehouse.duckdb, "
                             "out/warehouse.duckdb)")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _print(rows: list[dict[str, Any]], columns: tuple[str, ...], shown: tuple[tuple[str, str], ...], title: str,
           as_json: bool) -> None:
    if as_json:
        json.dump([{c: _plain(r.get(c)) for c in columns} for r in rows], sys.stdout, indent=2, ensure_ascii=False)
        print()
        return
    console = make_console()
    cells = [[escape("" if row.get(k) is None else _cell(row.get(k))) for _, k in shown] for row in rows]
    spec = [Column(header, text=key in WRAPS, optional=key in OPTIONAL,
                   right=key.startswith(("rows_", "daily_", "7d_", "days_", "load_id"))) for header, key in shown]
    console.print(fitted_table(title, spec, cells, console, "--json has every column"))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(_plain(value))


def _query(args: argparse.Namespace, tsql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    from company_activity_local.warehouse import WarehouseError, open_warehouse

    _check_limit(args.limit)
    path, connection = warehouse_target(args.warehouse, None)
    if path is not None and not path.exists():
        raise CommandFailed(f"no warehouse at {path}: deploy it (`company-activity sql deploy`) and load a date "
                            "(`pipeline run` or `transform`), or point WAREHOUSE_PATH / --warehouse at it")
    try:
        with open_warehouse(duckdb_path=str(path)) if path else open_warehouse(connection_string=connection) as wh:
            return wh.query(tsql, params)
    except WarehouseError as exc:
        raise CommandFailed(f"warehouse error: {exc}") from exc


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")


def _filters(args: argparse.Namespace, date_column: str) -> tuple[str, dict[str, Any]]:
    where, params = [], {}
    if args.date:
        params["day"] = parse_iso_date("--date", args.date)
        where.append(f"{date_column} = @day")
    if getattr(args, "company", None):
        params["company"] = args.company
        where.append("company_id = @company")
    if getattr(args, "churn_risk", False):
        where.append("is_churn_risk = 1")
    return (" WHERE " + " AND ".join(where) if where else ""), params


def run_fact(args: argparse.Namespace, journal: Journal) -> None:
    where, params = _filters(args, "activity_date")
    columns = ", ".join(f"[{c}]" for c in FACT_COLUMNS)
    sql = (f"SELECT TOP ({int(args.limit)}) {columns} FROM dbo.fact_daily_company_activity{where} "
           "ORDER BY activity_date DESC, company_id")
    _show(args, sql, params, FACT_COLUMNS, FACT_TABLE,
          lambda n: f"dbo.fact_daily_company_activity ({n} rows, at most {args.limit})",
          ("dbo.fact_daily_company_activity", "activity_date"))


def run_load_log(args: argparse.Namespace, journal: Journal) -> None:
    where, params = _filters(args, "run_date")
    columns = ", ".join(LOAD_LOG_COLUMNS)
    sql = f"SELECT TOP ({int(args.limit)}) {columns} FROM etl.load_log{where} ORDER BY load_id DESC"
    _show(args, sql, params, LOAD_LOG_COLUMNS, LOAD_LOG_TABLE,
          lambda n: f"etl.load_log ({n} rows, newest first, at most {args.limit})", ("etl.load_log", "run_date"))


def _show(args: argparse.Namespace, sql: str, params: dict[str, Any], columns: tuple[str, ...],
          shown: tuple[tuple[str, str], ...], title: Callable[[int], str], source: tuple[str, str]) -> None:
    """Run one warehouse query and print its rows (table or --json); CommandFailed (exit 1) when it matched
    nothing, saying so with the range of dates the table holds (--json still prints `[]`)."""
    rows = _query(args, sql, params)
    if rows:
        _print(rows, columns, shown, title(len(rows)), args.json)
        return
    if args.json:
        print("[]")
    table, date_column = source
    [span] = _query(args, f"SELECT MIN({date_column}) AS first_day, MAX({date_column}) AS last_day, COUNT(*) AS n "
                          f"FROM {table}", {})
    held = "it is empty"
    if span["n"]:
        held = f"it holds {_cell(span['first_day'])[:10]}..{_cell(span['last_day'])[:10]}"
    filters = (("--date", args.date), ("--company", getattr(args, "company", None)))
    wanted = [f"{flag} {value}" for flag, value in filters if value]
    wanted += ["--churn-risk"] if getattr(args, "churn_risk", False) else []
    raise CommandFailed(f"no rows in {table}{' for ' + ', '.join(wanted) if wanted else ''} ({held})")


def run_rejects(args: argparse.Namespace, journal: Journal) -> None:
    day = parse_iso_date("--date", args.date)
    settings = storage_settings(args)
    _check_limit(args.limit)
    bronze = container(settings, settings.bronze_container)
    with storage_errors(f"reading the rejected records of {day}"):
        if args.run:
            if args.run not in run_ids(bronze, day):
                raise CommandFailed(f"--run {args.run}: no such run folder for {day} (runs: "
                                    f"{', '.join(run_ids(bronze, day)) or 'none'})")
            source = f"run {args.run}"
            records = iter_run_rejects(bronze, day, args.run)
        else:
            manifest = read_manifest(bronze, day)
            if manifest is None:
                runs = run_ids(bronze, day)
                hint = f"; its run folders: {', '.join(runs)} (show one with --run)" if runs else ""
                raise CommandFailed(f"{day} is not committed{hint}")
            source = f"committed run {manifest.run_id}, {manifest.rejected_count} rejected"
            records = iter_committed_rejects(bronze, day)
        shown = []
        for item in records:
            shown.append(item)
            if len(shown) >= args.limit:
                break
    if args.json:
        json.dump({"date": day.isoformat(), "source": source, "rejects": shown}, sys.stdout, indent=2,
                  ensure_ascii=False)
        print()
        return
    table = Table(title=f"rejected records of {day} ({source}; showing {len(shown)})", title_justify="left")
    table.add_column("reason", overflow="fold")
    table.add_column("record (as received)", overflow="fold")
    for item in shown:
        table.add_row(escape(str(item.get("reason"))), escape(json.dumps(item.get("record"), ensure_ascii=False)))
    make_console().print(table)
