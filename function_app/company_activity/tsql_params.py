"""How a Python value becomes a T-SQL variable, for every batch sent to Azure SQL / SQL Server: the dashboard's
reader here, and the local SQL Server engine (company_activity_local/warehouse/sqlserver.py), which imports it.

Text becomes a VARCHAR variable: compared with the VARCHAR key columns (BIN2 UTF-8 collations) it needs no
conversion of the column and keeps index seeks, which an NVARCHAR variable would lose (data type precedence
converts the column); under the database's UTF-8 collation the VARCHAR keeps every character
(docs/warehouse.md, `params`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

VARCHAR_LIMIT_BYTES = 8000


def tsql_type(value: Any) -> str:
    """The T-SQL type of the variable that holds `value` (TypeError for a type no batch of ours sends)."""
    if value is None:
        return f"VARCHAR({VARCHAR_LIMIT_BYTES})"
    if isinstance(value, str):
        fits = len(value.encode("utf-8")) <= VARCHAR_LIMIT_BYTES
        return f"VARCHAR({VARCHAR_LIMIT_BYTES})" if fits else "VARCHAR(MAX)"
    if isinstance(value, bool):
        return "BIT"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, float):
        return "FLOAT"
    if isinstance(value, Decimal):
        return "DECIMAL(38, 10)"
    if isinstance(value, dt.datetime):
        return "DATETIME2"
    if isinstance(value, dt.date):
        return "DATE"
    raise TypeError(f"unsupported parameter value type {type(value).__name__}")
