"""The SID expression of infra/sql/grant_identities.sql, run on the real engine: SQL Server 2022 in the sqlserver
workflow (SQLSERVER_TEST_CONNECTION_STRING set; skipped elsewhere, where no SQL Server can run). Azure SQL keys an
application's database user by its client id in GUID byte order (little-endian first three groups, as .NET's
Guid.ToByteArray and Python's uuid.bytes_le): the expression must produce exactly that literal."""

from __future__ import annotations

import os
import re
import uuid

import pytest

from tests.support.infra.repo import ROOT

SCRIPT = ROOT / "infra" / "sql" / "grant_identities.sql"
CLIENT_ID = "af355f87-3f9a-4bb3-b8f9-ea1dc1f2f687"


def sid_expression() -> str:
    """The right-hand side of `DECLARE @sid ... = <expression>;` in the script."""
    match = re.search(r"DECLARE @sid NVARCHAR\(\d+\) = (.+?);\n", SCRIPT.read_text(encoding="utf-8"))
    assert match is not None, "grant_identities.sql no longer declares @sid"
    return match.group(1)


def test_the_sid_expression_reads_the_client_id_variable() -> None:
    expression = sid_expression()
    assert "$(DataFactoryClientId)" in expression and "UNIQUEIDENTIFIER" in expression


def test_the_sid_is_the_client_id_in_guid_byte_order_on_sql_server() -> None:
    connection_string = os.environ.get("SQLSERVER_TEST_CONNECTION_STRING")
    if not connection_string:
        pytest.skip("SQLSERVER_TEST_CONNECTION_STRING is not set (runs in the sqlserver workflow)")
    import pyodbc

    query = "SELECT " + sid_expression().replace("$(DataFactoryClientId)", CLIENT_ID)
    with pyodbc.connect(connection_string, autocommit=True) as connection:
        literal = connection.execute(query).fetchone()[0]
    assert literal == "0x" + uuid.UUID(CLIENT_ID).bytes_le.hex().upper()


def stale_user_block(name: str) -> str:
    """The script's SID declaration and its drop of a user of the factory's name with another SID, for `name`."""
    script = SCRIPT.read_text(encoding="utf-8")
    start = script.index("DECLARE @sid")
    end = script.index("END;", script.index("DROP USER")) + len("END;")
    return script[start:end].replace("$(DataFactoryName)", name).replace("$(DataFactoryClientId)", CLIENT_ID)


def test_a_user_of_the_factorys_name_with_another_sid_is_dropped_on_sql_server() -> None:
    # A recreated factory: the user of its name still carries the old identity's SID (here: any other SID).
    connection_string = os.environ.get("SQLSERVER_TEST_CONNECTION_STRING")
    if not connection_string:
        pytest.skip("SQLSERVER_TEST_CONNECTION_STRING is not set (runs in the sqlserver workflow)")
    import pyodbc

    name = "adf_recreated_factory_test"
    with pyodbc.connect(connection_string, autocommit=True) as connection:
        connection.execute(f"IF USER_ID('{name}') IS NULL CREATE USER [{name}] WITHOUT LOGIN;")
        connection.execute(stale_user_block(name))
        remaining = connection.execute("SELECT COUNT(*) FROM sys.database_principals WHERE name = ?", name).fetchone()
    assert remaining[0] == 0
