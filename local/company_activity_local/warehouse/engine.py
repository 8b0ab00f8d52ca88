"""The warehouse contract: one interface over Azure SQL / SQL Server and the local DuckDB engine.

Everything that talks to the warehouse (CRM and usage staging, the transform, the local pipeline
executor, the demo) goes through `Warehouse`; `open_warehouse` (connect.py) picks the engine. The SQL
objects it serves are defined once, in sql/ (see docs/warehouse.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, Self, runtime_checkable

from company_activity.errors import InputError, OperationalError

SQL_DIR = Path(__file__).resolve().parents[3] / "sql"


class WarehouseError(OperationalError):
    """An error raised by the warehouse; `message` is the engine's text (a THROW message verbatim)."""

    def __init__(self, message: str, *, number: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.number = number


class TranslationError(InputError):
    """T-SQL outside the subset the DuckDB engine accepts (docs/tsql-subset.md). The engine did not fail:
    it refused the text, which is the input to fix, so this is not a WarehouseError."""

    def __init__(self, file: str, line: int, construct: str, detail: str = "") -> None:
        text = f"{file}:{line}: unsupported T-SQL construct {construct}"
        if detail:
            text += f" ({detail})"
        super().__init__(text)
        self.message = text
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


Engine = Literal["duckdb", "sqlserver"]


@runtime_checkable
class Warehouse(Protocol):
    engine: Engine

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

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


ScriptResult = tuple[list[str], list[tuple[Any, ...]]] | None
