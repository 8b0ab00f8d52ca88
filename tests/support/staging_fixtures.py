"""A deployed DuckDB warehouse per test, and helpers to write usage files like the ingestion does."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from company_activity_local.warehouse import open_warehouse


@pytest.fixture()
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture()
def wh(warehouse_path: Path, duckdb_template: Path) -> Iterator[Any]:
    """A deployed warehouse at `warehouse_path`: a copy of the session's deployed template (a deploy costs ~0.4 s)."""
    shutil.copy(duckdb_template, warehouse_path)
    warehouse = open_warehouse(duckdb_path=str(warehouse_path))
    yield warehouse
    warehouse.close()


def write_jsonl(path: Path, records: list[Any], *, gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def record(company: str, day: str, users: int = 3, events: int = 10, **extra: Any) -> dict[str, Any]:
    return {"company_id": company, "date": day, "active_users": users, "events": events, **extra}
