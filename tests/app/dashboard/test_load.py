"""How the dashboard's load talks to the warehouse: what SQL Server's scoping rules require of the batches."""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

from company_activity.dashboard.data import load
from company_activity_local.warehouse import open_warehouse


class Recording:
    def __init__(self, warehouse: Any) -> None:
        self.warehouse, self.calls = warehouse, []

    def query(self, tsql: str, params: Any = None) -> list[dict[str, Any]]:
        self.calls.append(("query", tsql, params))
        return self.warehouse.query(tsql, params)

    def execute(self, tsql: str, params: Any = None) -> None:
        self.calls.append(("execute", tsql, params))
        self.warehouse.execute(tsql, params)


def test_the_temp_table_is_created_by_a_batch_without_parameters_before_it_is_filled(loaded):
    """A parameterized batch runs as sp_executesql on SQL Server, which drops a #table it creates on return:
    #calls must come from a plain batch, and only the INSERT that fills it may carry @start/@day."""
    with open_warehouse(duckdb_path=loaded) as warehouse:
        reader = Recording(warehouse)
        data = load(reader)
    creates = [c for c in reader.calls if "CREATE TABLE #calls" in c[1]]
    fills = [c for c in reader.calls if "INSERT INTO #calls" in c[1]]
    assert len(creates) == len(fills) == 1
    assert creates[0][0] == "execute" and creates[0][2] is None
    assert fills[0][2] == {"start": data.dates[0], "day": data.day}
    assert reader.calls.index(creates[0]) < reader.calls.index(fills[0])
    assert all("CREATE" not in c[1] for c in reader.calls if c[2])  # no parameterized batch creates anything


def test_every_query_reads_the_rpt_views_or_its_own_temp_table_only(loaded):
    """In Azure the reader is a member of rpt_reader only (SELECT on schema rpt); DuckDB enforces no permission,
    so a query of a dbo, etl or stg table would pass here and fail there."""
    with open_warehouse(duckdb_path=loaded) as warehouse:
        reader = Recording(warehouse)
        load(reader)
    read: set[str] = set()
    for _, tsql, _ in reader.calls:
        for statement in sqlglot.parse(tsql, read="tsql"):
            for table in statement.find_all(exp.Table) if statement else []:
                temporary = isinstance(table.this, exp.Identifier) and table.this.args.get("temporary")
                read.add("#" + table.name if temporary else f"{table.db or 'dbo'}.{table.name}")
    assert read and {name.split(".")[0] for name in read} <= {"rpt", "#calls"}, sorted(read)
    assert {"rpt.call_list", "rpt.loaded_days", "rpt.usage_without_crm", "rpt.data_freshness"} <= read


def test_every_query_of_more_than_one_row_is_ordered_so_the_same_warehouse_gives_the_same_file(loaded):
    """Labels and companies are numbered in order of first sight: a query without ORDER BY (an order DuckDB's
    threads or SQL Server's plans may change from run to run) numbered them differently each time (seen)."""
    with open_warehouse(duckdb_path=loaded) as warehouse:
        reader = Recording(warehouse)
        first = load(reader)
        second = load(warehouse)
    assert first == second
    for kind, tsql, _ in reader.calls:
        one_row = "MIN(activity_date)" in tsql or "FROM rpt.data_freshness" in tsql
        if kind != "query" or one_row:
            continue
        last = sqlglot.parse(tsql, read="tsql")[-1]
        assert last is not None and last.args.get("order"), f"a query without ORDER BY: {tsql}"
