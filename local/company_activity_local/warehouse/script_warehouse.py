"""What both engines share: every call is a T-SQL script run by the engine's `run_script`.

Apart from engine.py (the contract) so that the contract does not import the deploy code that uses it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from company_activity_local.warehouse.deploy import deploy
from company_activity_local.warehouse.engine import DeployReport, ScriptResult, WarehouseError


class ScriptWarehouse(ABC):
    """What both engines share: everything is a T-SQL script run by the engine's `run_script`."""

    sql_dir: Path

    @abstractmethod
    def run_script(self, text: str, file: str, params: Mapping[str, Any] | None = None) -> ScriptResult:
        """Run every GO batch of `text` (errors name `file`); the last result set, if any."""

    @abstractmethod
    def close(self) -> None: ...

    def deploy(self) -> DeployReport:
        return deploy(self, self.sql_dir)

    def execute(self, tsql: str, params: Mapping[str, Any] | None = None) -> None:
        self.run_script(tsql, "<batch>", params)

    def query(self, tsql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self.run_script(tsql, "<batch>", params)
        if result is None:
            raise WarehouseError("the batch returned no result set")
        columns, rows = result
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
