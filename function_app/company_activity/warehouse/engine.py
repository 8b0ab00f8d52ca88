"""The warehouse contract: one interface over Azure SQL / SQL Server and the local DuckDB engine.

Everything that talks to the warehouse (CRM and usage staging, the transform, the local pipeline
executor, the demo) goes through `Warehouse`; `open_warehouse` picks the engine. The SQL objects it
serves are defined once, in sql/ (see docs/warehouse.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

SQL_DIR = Path(__file__).resolve().parents[3] / "sql"


class WarehouseError(Exception):
    """An error raised by the warehouse; `message` is the engine's text (a THROW message verbatim)."""

    def __init__(self, message: str, *, number: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.number = number


class TranslationError(WarehouseError):
    """T-SQL outside the subset the DuckDB engine accepts (docs/tsql-subset.md)."""

    def __init__(self, file: str, line: int, construct: str, detail: str = "") -> None:
        text = f"{file}:{line}: unsupported T-SQL construct {construct}"
        if detail:
            text += f" ({detail})"
        super().__init__(text)
        self.file = file
        self.line = line
        self.construct = construct
        self.detail = detail


@dataclass
class DeployReport:
    """What one deploy did, file names relative to the sql/ directory."""

    applied: list[str] = field(default_factory=list)  # migrations applied now
    skipped: list[str] = field(default_factory=list)  # migrations applied earlier (same sha256)
    procedures: list[str] = field(default_factory=list)  # procedure files (re-)created
    # procedure file -> "created" (new), "altered" (its text changed) or "unchanged" (same sha256; re-applied)
    procedure_changes: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Warehouse(Protocol):
    engine: str  # "duckdb" | "sqlserver"

    def deploy(self) -> DeployReport:
        """Apply sql/: bootstrap, migrations not yet applied (in order), every procedure."""
        ...

    def execute(self, tsql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a T-SQL batch; `params` are bound as variables (@name)."""
        ...

    def query(self, tsql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of the batch's last result set, as dicts of Python values."""
        ...

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Bulk insert into schema.table (names checked against the catalog); returns the row count."""
        ...

    def call_procedure(self, name: str, params: Mapping[str, Any]) -> None:
        """EXEC schema.name @key = value, ...; raises WarehouseError with the procedure's message."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Warehouse: ...

    def __exit__(self, *exc_info: object) -> None: ...


ScriptResult = tuple[list[str], list[tuple[Any, ...]]] | None


class ScriptWarehouse(ABC):
    """What both engines share: everything is a T-SQL script run by the engine's `run_script`."""

    sql_dir: Path

    @abstractmethod
    def run_script(self, text: str, file: str, params: Mapping[str, Any] | None = None) -> ScriptResult:
        """Run every GO batch of `text` (errors name `file`); the last result set, if any."""

    @abstractmethod
    def close(self) -> None: ...

    def deploy(self) -> DeployReport:
        from company_activity.warehouse.deploy import deploy

        return deploy(self, self.sql_dir)  # type: ignore[arg-type]

    def execute(self, tsql: str, params: Mapping[str, Any] | None = None) -> None:
        self.run_script(tsql, "<batch>", params)

    def query(self, tsql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self.run_script(tsql, "<batch>", params)
        if result is None:
            raise WarehouseError("the batch returned no result set")
        columns, rows = result
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def __enter__(self) -> ScriptWarehouse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_warehouse(*, duckdb_path: str | Path | None = None, connection_string: str | None = None) -> Warehouse:
    """The DuckDB engine for a file path, or SQL Server / Azure SQL for an ODBC connection string."""
    if (duckdb_path is None) == (connection_string is None):
        raise ValueError("open_warehouse needs exactly one of duckdb_path or connection_string")
    if connection_string is not None:
        from company_activity.warehouse.sqlserver import SqlServerWarehouse

        return SqlServerWarehouse(connection_string)
    from company_activity.warehouse.duckdb_engine import DuckDBWarehouse

    return DuckDBWarehouse(duckdb_path)  # type: ignore[arg-type]
