"""Azure SQL Database / SQL Server through pyodbc (ODBC Driver 18), imported only on this path.

The T-SQL runs as written (no translation). Authentication comes from the ODBC connection string:
SQL logins, `Authentication=ActiveDirectoryMsi` (managed identity, handled by the driver), or
`Authentication=ActiveDirectoryDefault`, which the ODBC driver does not know: that keyword is
removed and an Entra access token from azure-identity's DefaultAzureCredential (environment,
workload/managed identity, Azure CLI, ...) is passed as SQL_COPT_SS_ACCESS_TOKEN instead.
"""

from __future__ import annotations

import importlib
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from company_activity.tsql_params import tsql_type
from company_activity_local.warehouse import engine as contract
from company_activity_local.warehouse.engine import Engine, ScriptResult, WarehouseError
from company_activity_local.warehouse.script_warehouse import ScriptWarehouse
from company_activity_local.warehouse.tsql_script import split_batches

ODBC_DRIVER = "ODBC Driver 18 for SQL Server"
# What a laptop needs for this engine (and for infra/deploy.sh's SQL steps), named in README.md and docs/deploy.md
# exactly as here (tests/docs check it). The Python side comes from this repository: make install-azure installs
# the project with its `sqlserver` extra (pyodbc). The driver is a system package from Microsoft's repositories
# ("Install the Microsoft ODBC driver for SQL Server (Linux)" and "(macOS)"); go-sqlcmd comes from the same.
INSTALL_PYODBC = "make install-azure"
INSTALL_ODBC_DRIVER = {
    "Debian/Ubuntu": (
        '. /etc/os-release && curl -sSL -O "https://packages.microsoft.com/config/$ID/$VERSION_ID/'
        'packages-microsoft-prod.deb"\n'
        "sudo dpkg -i packages-microsoft-prod.deb && rm packages-microsoft-prod.deb\n"
        "sudo apt-get update\n"
        "sudo ACCEPT_EULA=Y apt-get install -y msodbcsql18 unixodbc sqlcmd"
    ),
    "macOS": (
        "brew tap microsoft/mssql-release https://github.com/Microsoft/homebrew-mssql-release\n"
        "brew update\n"
        "HOMEBREW_ACCEPT_EULA=Y brew install msodbcsql18 sqlcmd"
    ),
}
SQL_COPT_SS_ACCESS_TOKEN = 1256  # msodbcsql.h
TOKEN_SCOPE = "https://database.windows.net/.default"
INSERT_CHUNK_ROWS = 10_000
_AUTH_DEFAULT = re.compile(r"(^|;)\s*Authentication\s*=\s*ActiveDirectoryDefault\s*(;|$)", re.IGNORECASE)
_ODBC_MESSAGE = re.compile(r"^(?:\[[^\]]*\]\s*)+(?P<text>.*?)(?:\s*\((?P<number>\d+)\))?(?:\s*\(SQL\w+\))?$", re.DOTALL)
_NAME = re.compile(r"^\[?([A-Za-z_][A-Za-z0-9_]*)\]?$")


def install_help() -> str:
    """How to get pyodbc and the ODBC driver, as the error messages print it."""
    lines = [f"pyodbc: {INSTALL_PYODBC} in this repository (or, in your own environment, pip install -e "
             f"'<repository>[sqlserver]')"]
    for system, commands in INSTALL_ODBC_DRIVER.items():
        lines.append(f"{ODBC_DRIVER} on {system}:")
        lines += [f"  {command}" for command in commands.splitlines()]
    return "\n".join(lines)


def driver_problem(module: Any = None) -> str | None:
    """What is missing for this engine, with how to install it; None when pyodbc imports and the ODBC driver
    manager lists ODBC Driver 18 (`module`, for tests, stands in for the imported pyodbc)."""
    if module is None:
        try:
            module = importlib.import_module("pyodbc")
        except ImportError as error:
            return f"the SQL Server engine needs pyodbc and {ODBC_DRIVER}; pyodbc cannot be imported ({error})\n" + \
                install_help()
    drivers = list(module.drivers())
    if ODBC_DRIVER not in drivers:
        found = ", ".join(drivers) or "none"
        return f"{ODBC_DRIVER} is not registered with the ODBC driver manager (drivers found: {found})\n" + \
            install_help()
    return None


# Text parameters are VARCHAR variables (company_activity/tsql_params.py says why). The ODBC parameter itself is
# bound as NVARCHAR of the text's length (setinputsizes, UTF-16 on the wire: no client code page involved) and
# converted once, on assignment, to the VARCHAR under the database's UTF-8 collation, which keeps every character.
NVARCHAR_LIMIT = 4000


def _tsql_type(value: Any) -> str:
    try:
        return tsql_type(value)
    except TypeError as error:
        raise WarehouseError(str(error)) from None


class SqlServerWarehouse(ScriptWarehouse):
    engine: Engine = "sqlserver"

    def __init__(self, connection_string: str, *, sql_dir: Path | None = None) -> None:
        try:
            import pyodbc
        except ImportError as error:
            raise WarehouseError(
                f"the SQL Server engine needs pyodbc and {ODBC_DRIVER}; pyodbc cannot be imported ({error}): "
                f"{INSTALL_PYODBC} in this repository (or pip install -e '.[sqlserver]' there into your own "
                "environment), then `company-activity sql check-driver` names what else is missing and how to "
                "install it"
            ) from error
        self._pyodbc = pyodbc
        self.sql_dir = sql_dir or contract.SQL_DIR
        connection_string, needs_token = prepare_connection_string(connection_string)
        attrs = {SQL_COPT_SS_ACCESS_TOKEN: _access_token()} if needs_token else {}
        try:
            self._connection = pyodbc.connect(connection_string, autocommit=True, attrs_before=attrs or None)
        except pyodbc.Error as error:
            raise WarehouseError(f"cannot connect to SQL Server: {odbc_message(error)[0]}") from None

    # -- Warehouse ----------------------------------------------------------------------------
    def call_procedure(self, name: str, params: Mapping[str, Any]) -> None:
        procedure = ".".join(f"[{part}]" for part in _parts(name, 2, "procedure"))
        names = [key.lstrip("@") for key in params]
        for key in names:
            _identifier(key, name)
        arguments = ", ".join(f"@{key} = ?" for key in names)
        self._run(f"SET NOCOUNT ON; EXEC {procedure} {arguments};", list(params.values()))

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        schema, name = _parts(table, 2, "table")
        known = {
            row[0].lower(): row[0]
            for row in self._fetch(
                "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                [schema, name],
            )
        }
        if not known:
            raise WarehouseError(f"insert_rows: table {table} does not exist")
        targets = []
        for column in columns:
            key = column.strip("[]").lower()
            if key not in known:
                raise WarehouseError(f"insert_rows: table {table} has no column {column!r}")
            targets.append(known[key])
        if len(set(targets)) != len(targets):
            raise WarehouseError(f"insert_rows: duplicate column in {list(columns)}")
        sql = (
            f"INSERT INTO [{schema}].[{name}] ({', '.join(f'[{c}]' for c in targets)}) "
            f"VALUES ({', '.join('?' for _ in targets)})"
        )
        cursor = self._connection.cursor()
        cursor.fast_executemany = True
        total = 0
        iterator = iter(rows)
        own_transaction = self._trancount() == 0
        try:
            if own_transaction:
                self._connection.autocommit = False
            while chunk := [tuple(r) for r in islice(iterator, INSERT_CHUNK_ROWS)]:
                for offset, row in enumerate(chunk):
                    if len(row) != len(targets):
                        raise WarehouseError(
                            f"insert_rows: row {total + offset} of {table} has {len(row)} values "
                            f"for {len(targets)} columns"
                        )
                cursor.executemany(sql, chunk)
                total += len(chunk)
            if own_transaction:
                self._connection.commit()
        except self._pyodbc.Error as error:
            if own_transaction:
                self._connection.rollback()
            text, number = odbc_message(error)
            raise WarehouseError(f"insert_rows into {table}: {text}", number=number) from None
        except BaseException:
            if own_transaction:
                self._connection.rollback()
            raise
        finally:
            if own_transaction:
                self._connection.autocommit = True
            cursor.close()
        return total

    def close(self) -> None:
        self._connection.close()

    # -- scripts ------------------------------------------------------------------------------
    def run_script(self, text: str, file: str, params: Mapping[str, Any] | None = None) -> ScriptResult:
        """Every GO batch of `text`; `params` become DECLAREd variables at the top of each batch."""
        names = [key.lstrip("@") for key in (params or {})]
        for key in names:
            _identifier(key, file)
        values = list((params or {}).values())
        prefix = "".join(f"DECLARE @{n} {_tsql_type(v)} = ?; " for n, v in zip(names, values, strict=True))
        result = None
        for batch, first_line in split_batches(text):
            try:
                found = self._run(prefix + batch if prefix else batch, values)
            except WarehouseError as error:
                if file == "<batch>" or first_line == 1:
                    raise
                where = f"{error.message} (in the batch starting at line {first_line})"
                raise WarehouseError(where, number=error.number) from None
            if found is not None:
                result = found
        return result

    def _run(self, sql: str, values: Sequence[Any]) -> tuple[list[str], list[tuple[Any, ...]]] | None:
        """Execute one batch and read every result set (errors raised after the first one, e.g. a
        THROW after a SELECT, only surface while moving to the next)."""
        cursor = self._connection.cursor()
        result = None
        try:
            if values:
                cursor.setinputsizes([self._input_size(v) for v in values])
            cursor.execute(sql, *values) if values else cursor.execute(sql)
            while True:
                if cursor.description:
                    columns = [d[0] for d in cursor.description]
                    result = (columns, [tuple(r) for r in cursor.fetchall()])
                if not cursor.nextset():
                    break
        except self._pyodbc.Error as error:
            text, number = odbc_message(error)
            raise WarehouseError(text, number=number) from None
        finally:
            cursor.close()
        return result

    def _input_size(self, value: Any) -> tuple[int, int, int] | None:
        """How pyodbc binds a parameter: text as NVARCHAR of its length (never NVARCHAR(MAX) below 4000
        characters); other values as pyodbc infers them."""
        if not isinstance(value, str):
            return None
        units = len(value.encode("utf-16-le")) // 2
        if units > NVARCHAR_LIMIT:
            return (self._pyodbc.SQL_WLONGVARCHAR, units, 0)
        return (self._pyodbc.SQL_WVARCHAR, max(units, 1), 0)

    def _fetch(self, sql: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
        found = self._run(sql, values)
        return found[1] if found else []

    def _trancount(self) -> int:
        return int(self._fetch("SELECT @@TRANCOUNT", [])[0][0])


def prepare_connection_string(connection_string: str) -> tuple[str, bool]:
    """(the string for the ODBC driver, whether an Entra token must be passed): the driver does not
    know Authentication=ActiveDirectoryDefault, so it is removed and replaced by a token."""
    if not _AUTH_DEFAULT.search(connection_string):
        return connection_string, False
    stripped = _AUTH_DEFAULT.sub(lambda m: ";" if m.group(1) and m.group(2) else "", connection_string)
    return stripped.strip(";"), True


def _access_token() -> bytes:
    """An Entra token for Azure SQL in the layout SQL_COPT_SS_ACCESS_TOKEN expects."""
    from azure.identity import DefaultAzureCredential

    token = DefaultAzureCredential().get_token(TOKEN_SCOPE).token.encode("utf-16-le")
    return struct.pack(f"<I{len(token)}s", len(token), token)


def odbc_message(error: Exception) -> tuple[str, int | None]:
    """(SQL Server's message text, error number) from a pyodbc error (its args: SQLSTATE, the driver's text)."""
    raw = str(error.args[1]) if len(error.args) > 1 else str(error)
    first = raw.split("; [")[0]
    match = _ODBC_MESSAGE.match(first.strip())
    if match is None:
        return raw, None
    number = match.group("number")
    return match.group("text").strip(), int(number) if number else None


def _parts(name: str, count: int, what: str) -> list[str]:
    parts = [_identifier(p, name) for p in name.split(".")]
    if len(parts) == count - 1:
        parts.insert(0, "dbo")
    if len(parts) != count:
        raise WarehouseError(f"invalid {what} name {name!r}: expected schema.name")
    return parts


def _identifier(part: str, whole: str) -> str:
    match = _NAME.match(part.strip())
    if match is None:
        raise WarehouseError(f"invalid name {part!r} in {whole!r}")
    return match.group(1)
