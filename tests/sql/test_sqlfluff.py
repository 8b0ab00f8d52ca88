"""Syntax gate: sqlfluff's T-SQL grammar parses every file of sql/ without unparsable sections
(an independent check that the files are T-SQL, not just what the DuckDB translator accepts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlfluff

from company_activity_local.warehouse.engine import SQL_DIR

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sqlfluff")]

SQL_FILES = sorted(SQL_DIR.rglob("*.sql"))


@pytest.fixture(scope="session")
def sqlfluff_errors() -> dict[Path, str | None]:
    """Each file parsed once per session (sqlfluff is slow): None, or the parse error."""
    errors: dict[Path, str | None] = {}
    for path in SQL_FILES:
        try:
            sqlfluff.parse(path.read_text(encoding="utf-8"), dialect="tsql")
            errors[path] = None
        except sqlfluff.api.APIParsingError as error:
            errors[path] = str(error)
    return errors


def test_there_are_sql_files():
    assert {p.parent.name for p in SQL_FILES} == {"bootstrap", "migrations", "procedures"}


@pytest.mark.parametrize("path", SQL_FILES, ids=[str(p.relative_to(SQL_DIR)) for p in SQL_FILES])
def test_sqlfluff_parses_the_file(sqlfluff_errors, path):
    assert sqlfluff_errors[path] is None, sqlfluff_errors[path]


def test_the_gate_rejects_broken_t_sql():
    with pytest.raises(sqlfluff.api.APIParsingError):
        sqlfluff.parse("CREATE TABLE dbo.t (a INT,, b);", dialect="tsql")
