"""The rpt views on Azure SQL for GET /api/dashboard, through Microsoft's mssql-python driver.

Why mssql-python and not pyodbc: pyodbc needs the Microsoft ODBC Driver 18 installed in the operating
system, which a Flex Consumption app cannot install and whose presence the platform does not document;
mssql-python ships the driver in its wheel (docs/deploy.md, "The dashboard's SQL driver"). It signs in
with the connection string's `Authentication=ActiveDirectoryMSI;UID=<client id>`: the user-assigned
identity whose database user is a member of rpt_reader and of nothing else.

The driver is imported when the first query runs, not when the worker indexes the functions, so that a
missing system library fails the dashboard request (503, logged) and never the ingestion functions.
Parameters are bound as T-SQL variables (`DECLARE @day DATE = ?`), as the local SQL Server engine does,
so that the same batches run here and through the local warehouse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from company_activity.dashboard.data import DashboardError
from company_activity.errors import OperationalError
from company_activity.tsql_params import tsql_type

INVALID_OBJECT_NAME = "Invalid object name"
LOGIN_TIMEOUT_S = 30


class RptUnavailable(OperationalError):
    """Azure SQL could not be reached or refused the query (the message names which; no secret in it)."""


def bind(tsql: str, params: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """The batch with one `DECLARE @name type = ?;` per parameter in front, and the values in that order."""
    names = list(params or {})
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"parameter name {name!r} is not an identifier")
    declare = "".join(f"DECLARE @{name} {tsql_type(params[name])} = ?; " for name in names)  # type: ignore[index]
    return f"SET NOCOUNT ON; {declare}{tsql}", [params[name] for name in names]  # type: ignore[index]


class AzureSqlReader:
    """A RptReader on one connection (temp tables live as long as it); a context manager."""

    def __init__(self, connection_string: str, *, connect: Callable[..., Any] | None = None) -> None:
        self.connection_string = connection_string
        self._connect = connect
        self._connection: Any = None

    def _open(self) -> Any:
        if self._connection is None:
            connect = self._connect
            if connect is None:
                try:
                    import mssql_python
                except ImportError as exc:
                    raise RptUnavailable(f"the SQL driver mssql-python cannot be loaded: {exc}") from None
                connect = mssql_python.connect
            try:
                self._connection = connect(self.connection_string, autocommit=True, timeout=LOGIN_TIMEOUT_S)
            except Exception as exc:  # the driver's Error tree; anything else is reported the same way
                raise RptUnavailable(f"cannot connect to the warehouse: {_first_line(exc)}") from None
        return self._connection

    def query(self, tsql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        batch, values = bind(tsql, params)
        cursor = self._open().cursor()
        try:
            cursor.execute(batch, values) if values else cursor.execute(batch)
            rows: list[dict[str, Any]] = []
            while True:
                if cursor.description:
                    columns = [c[0] for c in cursor.description]
                    rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
                if not cursor.nextset():
                    return rows
        except Exception as exc:
            text = _first_line(exc)
            if INVALID_OBJECT_NAME in text:
                raise DashboardError(f"the warehouse lacks an rpt view the dashboard reads ({text}): "
                                     "deploy sql/ (company-activity sql deploy)") from None
            raise RptUnavailable(f"the warehouse refused the dashboard's query: {text}") from None
        finally:
            cursor.close()

    def execute(self, tsql: str, params: Mapping[str, Any] | None = None) -> None:
        self.query(tsql, params)  # a batch without a result set answers no rows

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> AzureSqlReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
