"""The demo's check of its late backfill: the fact table equals an in-order replay of the same bronze.

Rule 6 of docs/fact-rules.md says late data recomputes its neighbours, so after the demo loaded the
held-back dates last, its fact table must hold what loading every date in date order would. The check
replays the same committed bronze and CRM snapshots in date order into a second, temporary DuckDB
warehouse through the project's own replay path (warehouse/transform.py `transform`, files saved by
ingest/bronze.py `download_committed_day`, snapshots at warehouse/crm.py `crm_blob_path`), then compares
the two fact tables with EXCEPT in both directions on every column but the operational ones
(`loaded_at`, `load_run_id`: docs/warehouse.md, "The fact table"). The comparison attaches both files
read-only, so it runs once the demo closed its warehouse; the replay file is removed afterwards.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from company_activity.ingest.bronze import download_committed_day
from company_activity_local.demo.errors import DemoFailed
from company_activity_local.warehouse.crm import crm_blob_path
from company_activity_local.warehouse.transform import transform

FACT_SCHEMA, FACT_TABLE = "dbo", "fact_daily_company_activity"
OPERATIONAL_COLUMNS = ("loaded_at", "load_run_id")  # which run last wrote a row, and when: not business data
EXAMPLES = 5


@dataclass(frozen=True)
class FactDifference:
    company_id: str
    activity_date: date
    column: str  # a business column whose value differs, or "(row missing)" when one side lacks the row


@dataclass(frozen=True)
class LateBackfillCheck:
    rows: int  # fact rows of the demo warehouse
    companies: int
    differing_rows: int  # (company, date) keys on which the two fact tables differ
    examples: tuple[FactDifference, ...] = ()

    @property
    def passed(self) -> bool:
        return self.differing_rows == 0

    def line(self) -> str:
        if self.passed:
            return (f"late backfill check: fact table equals an in-order replay of the same bronze ({self.rows} rows, "
                    f"{self.companies} companies)")
        shown = ", ".join(f"({d.company_id}, {d.activity_date}, {d.column})" for d in self.examples)
        return (f"late backfill check FAILED: {self.differing_rows} (company, date) rows differ from an in-order "
                f"replay of the same bronze, e.g. {shown}")


def replay_in_order(bronze: Any, crm: Any, dates: Sequence[date], path: Path) -> Path:
    """Load `dates` in date order from the committed bronze and CRM blobs into a new DuckDB warehouse at `path`."""
    from company_activity_local.warehouse import open_warehouse

    remove_warehouse_file(path)
    with tempfile.TemporaryDirectory(prefix="late-backfill-check-") as scratch, \
            open_warehouse(duckdb_path=str(path)) as warehouse:
        folder = Path(scratch)
        warehouse.deploy()
        for day in sorted(dates):
            manifest = download_committed_day(bronze, day, folder / "bronze")
            if manifest is None:
                raise DemoFailed(f"late backfill check: {day} is not committed in bronze")
            crm_file = folder / "crm" / crm_blob_path(day)
            blob = crm.get_blob_client(crm_blob_path(day))
            if blob.exists():
                crm_file.parent.mkdir(parents=True, exist_ok=True)
                crm_file.write_bytes(blob.download_blob().readall())
            transform(warehouse, day, [folder / "bronze" / f.path for f in manifest.files],
                      crm_file if crm_file.exists() else None, run_id=f"replay-{day}",
                      bronze_run_id=manifest.run_id)
    return path


def check_and_remove(demo: Path, replay: Path) -> LateBackfillCheck:
    """compare_facts, then the replay warehouse file is removed (also when the comparison fails)."""
    try:
        return compare_facts(demo, replay)
    finally:
        remove_warehouse_file(replay)


def remove_warehouse_file(path: Path) -> None:
    for file in (path, path.with_name(path.name + ".wal")):
        file.unlink(missing_ok=True)


def compare_facts(demo: Path, replay: Path, examples: int = EXAMPLES) -> LateBackfillCheck:
    """EXCEPT in both directions on the business columns of the two (closed) warehouse files' fact tables."""
    with duckdb.connect(":memory:") as db:
        db.execute(f"ATTACH '{_literal(demo)}' AS demo (READ_ONLY)")
        db.execute(f"ATTACH '{_literal(replay)}' AS replay (READ_ONLY)")
        columns = [name for (name,) in db.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'demo' AND schema_name = ? "
            "AND table_name = ? ORDER BY column_index", [FACT_SCHEMA, FACT_TABLE]).fetchall()
            if name not in OPERATIONAL_COLUMNS]
        select = ", ".join(f'"{c}"' for c in columns)
        table = f"{FACT_SCHEMA}.{FACT_TABLE}"
        totals = db.execute(f"SELECT count(*), count(DISTINCT company_id) FROM demo.{table}").fetchone()
        rows, companies = totals or (0, 0)
        differing = db.execute(
            f"SELECT DISTINCT company_id, activity_date FROM ("
            f"(SELECT {select} FROM demo.{table} EXCEPT SELECT {select} FROM replay.{table}) UNION ALL "
            f"(SELECT {select} FROM replay.{table} EXCEPT SELECT {select} FROM demo.{table})) "
            "ORDER BY activity_date, company_id").fetchall()
        found: list[FactDifference] = []
        for company, day in differing[:examples]:
            sides = [db.execute(f"SELECT {select} FROM {side}.{table} WHERE company_id = ? AND activity_date = ?",
                                [company, day]).fetchone() for side in ("demo", "replay")]
            demo_row, replay_row = sides
            if demo_row is None or replay_row is None:
                found.append(FactDifference(company, day, "(row missing)"))
                continue
            found.extend(FactDifference(company, day, c)
                         for c, a, b in zip(columns, demo_row, replay_row, strict=True) if a != b)
    return LateBackfillCheck(int(rows), int(companies), len(differing), tuple(found[:examples]))


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")
