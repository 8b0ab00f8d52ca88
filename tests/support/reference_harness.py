"""Run loads through the real transform code into a warehouse and compare it with the reference, cell by cell."""

from __future__ import annotations

import gzip
import json
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from company_activity_local.services.crm_generator import write_crm_csv
from company_activity_local.warehouse import open_warehouse
from company_activity_local.warehouse.crm import CrmRow, crm_blob_path
from company_activity_local.warehouse.transform import Thresholds, TransformResult, transform
from tests.support.reference_model import DIM_COLUMNS, FACT_VALUE_COLUMNS, ROLLING, Load, ReferenceWarehouse, RunCounts
from tests.support.warehouse_fixtures import SQLSERVER_ENV, TABLES

REL_TOL = 1e-9
MAX_REPORTED = 12


@contextmanager
def fresh_warehouse(engine: str, folder: Path) -> Iterator[Any]:
    """An empty, deployed warehouse: a new DuckDB file, or the SQL Server test database emptied."""
    if engine == "duckdb":
        wh = open_warehouse(duckdb_path=str(folder / "warehouse.duckdb"))
    else:
        wh = open_warehouse(connection_string=os.environ[SQLSERVER_ENV])
    try:
        wh.deploy()
        if engine != "duckdb":
            empty(wh)
        yield wh
    finally:
        wh.close()


def empty(wh: Any) -> None:
    for table in TABLES:
        wh.execute(f"DELETE FROM {table}")


# ---- loading through the transform --------------------------------------------------------------------


def write_load_files(load: Load, folder: Path) -> tuple[Path, Path | None]:
    """The load as the pipeline would find it: a bronze-format usage part file and the day's CRM CSV."""
    usage = folder / f"product_usage/date={load.run_date.isoformat()}/{load.run_id}/part-00000.jsonl.gz"
    usage.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(usage, "wt", encoding="utf-8") as out:
        for row in load.usage:
            record = {"company_id": row.company_id, "date": load.run_date.isoformat(),
                      "active_users": row.active_users, "events": row.events, "plan": "pro"}
            out.write(json.dumps(record) + "\n")
    if load.crm is None:
        return usage, None
    crm = folder / load.run_id / crm_blob_path(load.run_date)
    crm.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        CrmRow(
            company_id=r.company_id,
            company_name=r.company_name,
            industry_tag=r.industry_tag,
            country=r.country,
            last_contact_date=r.last_contact_date,
        )
        for r in load.crm
    ]
    with open(crm, "w", encoding="utf-8", newline="") as out:
        write_crm_csv(rows, out)
    return usage, crm


def transform_load(wh: Any, load: Load, folder: Path) -> TransformResult:
    usage, crm = write_load_files(load, folder)
    # A day without usage is a scenario the rules cover; the refusal of empty files is tested on its own.
    return transform(wh, load.run_date, [usage], crm, run_id=load.run_id,
                     thresholds=Thresholds(load.low_activity_threshold, load.stale_contact_days),
                     allow_empty_usage=True)


# ---- reading the warehouse ----------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    fact: dict[tuple[str, date], dict[str, Any]]
    dim: dict[str, dict[str, Any]]
    contacts: set[tuple[str, date]]


def read_state(wh: Any) -> State:
    fact_columns = ", ".join(f"[{c}]" if c == ROLLING else c for c in (*FACT_VALUE_COLUMNS, "load_run_id"))
    fact = {}
    for row in wh.query(f"SELECT company_id, activity_date, {fact_columns}, loaded_at "
                        "FROM dbo.fact_daily_company_activity"):
        row["is_churn_risk"] = _bit(row["is_churn_risk"])
        fact[(row["company_id"], row["activity_date"])] = row
    dim = {}
    for row in wh.query(f"SELECT {', '.join(DIM_COLUMNS)} FROM dbo.dim_company"):
        row["in_latest_crm_snapshot"] = _bit(row["in_latest_crm_snapshot"])
        dim[row["company_id"]] = row
    contacts = {(r["company_id"], r["contact_date"]) for r in
                wh.query("SELECT company_id, contact_date FROM dbo.crm_contact_history")}
    return State(fact, dim, contacts)


def _bit(value: Any) -> Any:
    return bool(value) if value is not None else None


# ---- comparing ----------------------------------------------------------------------------------------


def same_value(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, float) or isinstance(actual, float):
        return math.isclose(float(expected), float(actual), rel_tol=REL_TOL, abs_tol=1e-12)
    return bool(expected == actual)


def diff_tables(name: str, expected: dict[Any, dict[str, Any]], actual: dict[Any, dict[str, Any]],
                columns: Sequence[str]) -> list[str]:
    """Readable differences: rows missing on either side, then differing cells, in key order."""
    out = []
    for key in sorted(set(expected) | set(actual)):
        if key not in actual:
            out.append(f"{name} {key}: missing in the warehouse; reference row "
                       f"{ {c: expected[key][c] for c in columns} }")
        elif key not in expected:
            out.append(f"{name} {key}: extra row in the warehouse { {c: actual[key].get(c) for c in columns} }")
        else:
            out.extend(
                f"{name} {key}.{c}: reference {expected[key][c]!r} != warehouse {actual[key].get(c)!r}"
                for c in columns if not same_value(expected[key][c], actual[key].get(c))
            )
    return out


def compare(reference: ReferenceWarehouse, state: State, *, with_run_ids: bool = True) -> list[str]:
    fact_columns = (*FACT_VALUE_COLUMNS, "load_run_id") if with_run_ids else FACT_VALUE_COLUMNS
    differences = diff_tables("fact", reference.fact, state.fact, fact_columns)
    differences += diff_tables("dim_company", {c: d.as_dict() for c, d in reference.dim.items()}, state.dim,
                               DIM_COLUMNS)
    expected_contacts = set(reference.contact_history())
    differences += [f"crm_contact_history {pair}: missing in the warehouse"
                    for pair in sorted(expected_contacts - state.contacts)]
    differences += [f"crm_contact_history {pair}: extra in the warehouse"
                    for pair in sorted(state.contacts - expected_contacts)]
    return differences


def compare_states(left: State, right: State) -> list[str]:
    """Two warehouses (e.g. loaded in different orders), ignoring which run wrote a row."""
    differences = diff_tables("fact", left.fact, right.fact, FACT_VALUE_COLUMNS)
    differences += diff_tables("dim_company", left.dim, right.dim, DIM_COLUMNS)
    if left.contacts != right.contacts:
        differences.append(f"crm_contact_history differs: {sorted(left.contacts ^ right.contacts)[:MAX_REPORTED]}")
    return differences


def describe(title: str, differences: list[str]) -> str:
    shown = differences[:MAX_REPORTED]
    more = f"\n  ... and {len(differences) - MAX_REPORTED} more" if len(differences) > MAX_REPORTED else ""
    return f"{title}: {len(differences)} difference(s)\n  " + "\n  ".join(shown) + more


def check_run(result: TransformResult, counts: RunCounts, before: State | None, after: State, run_id: str) -> list[str]:
    """The load log of the run and rule 8's bookkeeping: untouched rows keep loaded_at and load_run_id."""
    problems = []
    log = result.load_log
    if log.status != "succeeded":
        problems.append(f"load_log status {log.status!r}: {log.values.get('message')}")
    expected = (counts.rows_inserted, counts.rows_updated, counts.rows_deleted)
    if log.counts != expected:
        problems.append(f"load_log (inserted, updated, deleted): reference {expected} != warehouse {log.counts}")
    if before is not None:
        for key, row in after.fact.items():
            old = before.fact.get(key)
            if old is not None and row["load_run_id"] != run_id and row["loaded_at"] != old["loaded_at"]:
                problems.append(f"fact {key}: loaded_at changed ({old['loaded_at']} -> {row['loaded_at']}) "
                                f"but load_run_id {row['load_run_id']!r} is not this run's")
    return problems


def run_and_compare(wh: Any, loads: Sequence[Load], folder: Path, title: str) -> tuple[ReferenceWarehouse, State]:
    """Apply each load to the warehouse and the reference; fail at the first load where they differ."""
    reference = ReferenceWarehouse()
    before: State | None = None
    for index, load in enumerate(loads):
        result = transform_load(wh, load, folder)
        counts = reference.apply(load)
        after = read_state(wh)
        differences = check_run(result, counts, before, after, load.run_id) + compare(reference, after)
        if differences:
            raise AssertionError(describe(
                f"{title}: after load {index + 1}/{len(loads)} (run_date {load.run_date}, run {load.run_id}, "
                f"{len(load.usage)} usage rows, snapshot {'none' if load.crm is None else len(load.crm)})",
                differences,
            ))
        before = after
    return reference, before or read_state(wh)
