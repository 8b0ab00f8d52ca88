"""The rpt reporting contract (migration 0007): each view against the fact table and load log it
reads, on every engine; the rpt_reader role; the translator's strict handling of views and grants."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from company_activity_local.warehouse import TranslationError, WarehouseError
from tests.support.warehouse_fixtures import build_loaded_template, loaded_warehouse
from tests.support.warehouse_helpers import day, fact, run, stage_crm, stage_usage

# One worker runs the module, so the loaded template below is built once, not once per worker.
pytestmark = pytest.mark.xdist_group("reporting_views")

REASONS = ("low_activity", "stale_contact", "no_contact")
CRM = [
    ("a", "Alpha", "retail", "DE", day(1) - dt.timedelta(days=200)),  # stale contact
    ("b", "Beta", "retail", None, None),  # never contacted
    ("c", "Gamma", None, "FR", day(2)),  # contacted on day 2
]


def _usage(n: int) -> list[tuple[str, int, int]]:
    # a: active on day 1, then silent (low activity); b, c: steady
    return [("a", 0 if n >= 2 else 3, 10), ("b", 4, 8), ("c", 2, 5)]


def _load(warehouse) -> None:
    for n in range(1, 9):
        stage_usage(warehouse, day(n), _usage(n))
        stage_crm(warehouse, day(n), CRM)
        run(warehouse, day(n))


@pytest.fixture(scope="module")
def loaded_template(tmp_path_factory, duckdb_template):
    return build_loaded_template(tmp_path_factory, duckdb_template, _load)


@pytest.fixture()
def loaded(engine, request, tmp_path):
    yield from loaded_warehouse(engine, request, tmp_path, "loaded_template", _load)


def test_company_daily_activity_is_the_fact_with_reasons_split(loaded):
    rows = loaded.query("SELECT * FROM rpt.company_daily_activity ORDER BY company_id, activity_date;")
    facts = fact(loaded)
    assert len(rows) == len(facts) == 24
    for row in rows:
        source = facts[(row["company_id"], row["activity_date"])]
        reasons = set((source["churn_risk_reason"] or "").split(",")) - {""}
        assert row["rolling_7d_active_users"] == source["7d_rolling_active_users"]
        assert row["is_churn_risk"] == source["is_churn_risk"]
        assert {r for r in REASONS if row[f"is_{r}"]} == reasons
        expected_contact = (
            None
            if source["days_since_last_contact"] is None
            else row["activity_date"] - dt.timedelta(days=source["days_since_last_contact"])
        )
        assert row["last_contact_date"] == expected_contact
        assert "loaded_at" not in row and "load_run_id" not in row
    assert {r["company_id"]: r["last_contact_date"] for r in rows if r["activity_date"] == day(8)} == {
        "a": CRM[0][4], "b": None, "c": day(2),
    }  # fmt: skip
    assert any(r["is_low_activity"] for r in rows) and any(r["is_no_contact"] for r in rows)


def test_company_latest_has_one_row_per_company_on_its_latest_day(loaded):
    stage_usage(loaded, day(9), [("b", 1, 1)])  # only b reaches day 9
    stage_crm(loaded, day(9), CRM)
    run(loaded, day(9))
    latest = {r["company_id"]: r for r in loaded.query("SELECT * FROM rpt.company_latest;")}
    facts = fact(loaded)
    for company, row in latest.items():
        expected_day = max(d for c, d in facts if c == company)
        assert row["activity_date"] == expected_day
        assert row["churn_risk_reason"] == facts[(company, expected_day)]["churn_risk_reason"]
    assert set(latest) == {"a", "b", "c"}


def test_daily_summary_and_churn_risk_daily_count_the_fact_rows(loaded):
    facts = list(fact(loaded).values())
    summary = {r["activity_date"]: r for r in loaded.query("SELECT * FROM rpt.daily_summary;")}
    for date in {f["activity_date"] for f in facts}:
        rows = [f for f in facts if f["activity_date"] == date]
        assert summary[date]["companies"] == len(rows)
        assert summary[date]["active_users"] == sum(f["daily_active_users"] for f in rows)
        assert summary[date]["events"] == sum(f["daily_events_count"] for f in rows)
        assert summary[date]["companies_at_risk"] == sum(1 for f in rows if f["is_churn_risk"])
    expected: Counter[tuple] = Counter()
    for f in facts:
        for reason in (f["churn_risk_reason"] or "").split(","):
            if reason:
                expected[(f["activity_date"], reason, f["industry_tag"], f["country"])] += 1
    got = {
        (r["activity_date"], r["churn_risk_reason"], r["industry_tag"], r["country"]): r["companies_at_risk"]
        for r in loaded.query("SELECT * FROM rpt.churn_risk_daily;")
    }
    assert got == dict(expected)
    assert any(key[2] is None for key in got) and any(key[3] is None for key in got)  # NULL groups kept


def test_rolling_active_users_and_contacts(loaded):
    rolling = loaded.query(
        "SELECT activity_date, daily_active_users, rolling_7d_active_users FROM rpt.company_rolling_active_users "
        "WHERE company_id = 'a' ORDER BY activity_date;"
    )
    facts = fact(loaded)
    assert [r["rolling_7d_active_users"] for r in rolling] == [
        facts[("a", r["activity_date"])]["7d_rolling_active_users"] for r in rolling
    ]
    contacts = loaded.query("SELECT company_id, contact_date FROM rpt.company_contacts ORDER BY company_id;")
    assert [(r["company_id"], r["contact_date"]) for r in contacts] == [("a", CRM[0][4]), ("c", day(2))]


def test_data_freshness_compares_the_latest_staged_bronze_day_with_the_fact(loaded):
    fresh = loaded.query("SELECT * FROM rpt.data_freshness;")
    assert len(fresh) == 1
    row = fresh[0]
    assert (row["latest_bronze_usage_date"], row["latest_fact_date"], row["fact_lag_days"]) == (day(8), day(8), 0)
    assert row["latest_succeeded_run_date"] == day(8) and row["latest_failed_load_at"] is None
    stage_usage(loaded, day(10), [("a", 1, 1)])  # copied to staging, not loaded yet
    row = loaded.query("SELECT latest_bronze_usage_date, fact_lag_days FROM rpt.data_freshness;")[0]
    assert (row["latest_bronze_usage_date"], row["fact_lag_days"]) == (day(10), 2)


def test_load_runs_lists_every_run_with_its_counts(loaded):
    runs = loaded.query("SELECT * FROM rpt.load_runs ORDER BY load_id;")
    log = loaded.query("SELECT * FROM etl.load_log ORDER BY load_id;")
    assert [(r["run_id"], r["rows_inserted"], r["rows_updated"]) for r in runs] == [
        (r["run_id"], r["rows_inserted"], r["rows_updated"]) for r in log
    ]
    assert all(r["duration_seconds"] >= 0 for r in runs)
    assert "low_activity_threshold" not in runs[0]


def test_views_of_an_empty_warehouse(warehouse):
    assert warehouse.query("SELECT COUNT(*) AS n FROM rpt.daily_summary;") == [{"n": 0}]
    row = warehouse.query("SELECT latest_fact_date, fact_lag_days FROM rpt.data_freshness;")
    assert row == [{"latest_fact_date": None, "fact_lag_days": None}]


def test_rpt_reader_role_has_select_on_rpt_only(warehouse):
    if warehouse.engine == "duckdb":
        # DuckDB has no principals: the deploy records the role and its grant (docs/tsql-subset.md).
        assert warehouse.query("SELECT role_name FROM etl.database_roles;") == [{"role_name": "rpt_reader"}]
        assert warehouse.query("SELECT schema_name, permission, role_name FROM etl.schema_permissions;") == [
            {"schema_name": "rpt", "permission": "SELECT", "role_name": "rpt_reader"}
        ]
        return
    grants = warehouse.query(
        "SELECT p.permission_name, p.class_desc, SCHEMA_NAME(p.major_id) AS schema_name FROM sys.database_permissions "
        "AS p INNER JOIN sys.database_principals AS r ON r.principal_id = p.grantee_principal_id "
        "WHERE r.name = 'rpt_reader' AND r.type = 'R';"
    )
    assert grants == [{"permission_name": "SELECT", "class_desc": "SCHEMA", "schema_name": "rpt"}]


def test_a_rpt_reader_member_reads_the_views_and_not_the_tables(engine, request):
    """SQL Server only: the ownership chain (rpt owned by dbo) lets the views read dbo tables."""
    if engine != "sqlserver":
        pytest.skip("DuckDB has no principals")
    connection_string = request.getfixturevalue("sqlserver_connection_string")  # skips when not set
    import pyodbc

    connection = pyodbc.connect(connection_string, autocommit=True)
    try:
        connection.execute("IF USER_ID('rpt_probe') IS NULL CREATE USER rpt_probe WITHOUT LOGIN;")
        connection.execute("ALTER ROLE rpt_reader ADD MEMBER rpt_probe;")
        connection.execute("EXECUTE AS USER = 'rpt_probe';")
        try:
            connection.execute("SELECT COUNT(*) FROM rpt.company_daily_activity;").fetchall()
            connection.execute("SELECT * FROM rpt.data_freshness;").fetchall()
            with pytest.raises(pyodbc.Error, match="229"):  # SELECT permission was denied
                connection.execute("SELECT COUNT(*) FROM dbo.fact_daily_company_activity;").fetchall()
        finally:
            connection.execute("REVERT;")
    finally:
        connection.close()


REFUSED = [
    ("ALTER VIEW rpt.v AS SELECT company_id FROM dbo.dim_company;", "ALTER VIEW"),
    ("CREATE OR ALTER VIEW rpt.v AS SELECT company_id FROM dbo.dim_company;", "CREATE VIEW"),
    ("CREATE VIEW rpt.v AS SELECT * FROM dbo.dim_company;", "SELECT * in a view"),
    ("CREATE VIEW rpt.v (x) AS SELECT company_id FROM dbo.dim_company;", "column list"),
    ("CREATE VIEW rpt.v WITH SCHEMABINDING AS SELECT company_id FROM dbo.dim_company;", "WITH options"),
    ("CREATE VIEW rpt.v AS SELECT company_id FROM dbo.dim_company ORDER BY company_id;", "ORDER BY in a view"),
    ("CREATE VIEW rpt.v AS SELECT UPPER(company_id) FROM dbo.dim_company;", "view column without a name"),
    ("CREATE VIEW rpt.v AS SELECT company_id AS a, country AS a FROM dbo.dim_company;", "duplicate view column"),
    ("CREATE VIEW rpt.v AS SELECT daily_active_users / 2 AS h FROM dbo.fact_daily_company_activity;", "division"),
    ("CREATE VIEW rpt.v AS SELECT SYSUTCDATETIME() AS t FROM dbo.dim_company;", "system function in a view"),
    ("CREATE SCHEMA rpt2 AUTHORIZATION someone;", "AUTHORIZATION other than dbo"),
    ("CREATE ROLE r2 AUTHORIZATION dbo;", "CREATE ROLE with options"),
    ("GRANT INSERT ON SCHEMA::rpt TO rpt_reader;", "GRANT other than"),
    ("GRANT SELECT ON dbo.dim_company TO rpt_reader;", "GRANT other than"),
    ("GRANT SELECT ON SCHEMA::rpt TO rpt_reader WITH GRANT OPTION;", "GRANT other than"),
    ("DENY SELECT ON SCHEMA::dbo TO rpt_reader;", "DENY"),
    ("REVOKE SELECT ON SCHEMA::rpt FROM rpt_reader;", "REVOKE"),
]


@pytest.mark.parametrize(("statement", "construct"), REFUSED, ids=[c for _, c in REFUSED])
def test_views_and_security_statements_outside_the_subset_are_refused(duckdb_warehouse, statement, construct):
    with pytest.raises(TranslationError) as caught:
        duckdb_warehouse.execute(statement)
    assert construct in str(caught.value)
    assert caught.value.line == 1


def test_create_view_must_be_alone_in_its_batch(duckdb_warehouse):
    with pytest.raises(TranslationError, match="CREATE VIEW") as caught:
        duckdb_warehouse.execute("SELECT 1 AS x;\nCREATE VIEW rpt.v AS SELECT company_id FROM dbo.dim_company;")
    assert caught.value.line == 2
    with pytest.raises(TranslationError, match="statements after CREATE VIEW"):
        duckdb_warehouse.execute("CREATE VIEW rpt.v AS SELECT company_id FROM dbo.dim_company;\nSELECT 1 AS x;")
    duckdb_warehouse.execute("CREATE VIEW rpt.v AS SELECT company_id AS id FROM dbo.dim_company;\nGO\nSELECT 1 AS x;")
    assert duckdb_warehouse.query("SELECT id FROM rpt.v;") == []


def test_role_statements_are_checked_as_sql_server_checks_them(duckdb_warehouse):
    with pytest.raises(WarehouseError) as caught:
        duckdb_warehouse.execute("CREATE ROLE rpt_reader;")
    assert caught.value.number == 15023 and "rpt_reader" in caught.value.message
    with pytest.raises(WarehouseError) as caught:
        duckdb_warehouse.execute("GRANT SELECT ON SCHEMA::rpt TO nobody;")
    assert caught.value.number == 15151 and "'nobody'" in caught.value.message
    with pytest.raises(WarehouseError) as caught:
        duckdb_warehouse.execute("GRANT SELECT ON SCHEMA::nothing TO rpt_reader;")
    assert caught.value.number == 15151 and "'nothing'" in caught.value.message
    duckdb_warehouse.execute("CREATE ROLE [analysts];\nGRANT SELECT ON SCHEMA::rpt TO analysts;")
    duckdb_warehouse.execute("GRANT SELECT ON SCHEMA::rpt TO analysts;")  # granting twice is not an error
    assert duckdb_warehouse.query(
        "SELECT role_name FROM etl.schema_permissions ORDER BY role_name;"
    ) == [{"role_name": "analysts"}, {"role_name": "rpt_reader"}]


def test_the_dashboard_queries_run_on_every_engine(loaded):
    """The dashboard's T-SQL (company_activity.dashboard.data) on this engine, checked against the fact."""
    from company_activity.dashboard.data import MEASURES
    from company_activity_local.dashboard import load

    data = load(loaded, day(8))
    assert data.dates == [day(n) for n in range(1, 9)]
    last = len(data.dates) - 1
    facts = [f for f in fact(loaded).values() if f["activity_date"] == day(8)]
    totals = {m: sum(n.values[MEASURES.index(m)] for n in data.numbers if n.day == last)
              for m in ("companies", "active_users", "companies_at_risk")}  # fmt: skip
    assert totals == {
        "companies": len(facts),
        "active_users": sum(f["daily_active_users"] for f in facts),
        "companies_at_risk": sum(1 for f in facts if f["is_churn_risk"]),
    }
    ranked = loaded.query("SELECT company_id FROM rpt.call_list WHERE activity_date = @d ORDER BY call_rank;",
                          {"d": day(8)})  # fmt: skip
    # a stopped using the product after day 1 (a sharp drop: severity 1); b was never contacted
    assert [data.companies[r.company].company_id for r in data.calls[last]] == [r["company_id"] for r in ranked]
    assert [r["company_id"] for r in ranked] == ["a", "b"]
    assert set(data.series) == set(range(len(data.companies)))
    assert all(len(dau) == 8 for dau, _ in data.series.values())
    assert data.freshness["latest_fact_date"] == day(8)
    assert [r["run_date"] for r in data.load_runs] == [day(n) for n in range(8, 0, -1)]


def test_churn_risk_daily_groups_text_as_stored_case_included(warehouse):
    """'Retail' and 'retail' are two industries, as the procedure's rule says (a change of case is a
    change); the database's case-insensitive collation would fold them into one group."""
    crm = [("r1", "R1", "Retail", "DE", None), ("r2", "R2", "retail", "DE", None), ("r3", "R3", "Retail ", "de", None)]
    stage_usage(warehouse, day(1), [(c, 0, 0) for c, *_ in crm])
    stage_crm(warehouse, day(1), crm)
    run(warehouse, day(1))
    got = {
        (r["churn_risk_reason"], r["industry_tag"], r["country"]): r["companies_at_risk"]
        for r in warehouse.query("SELECT * FROM rpt.churn_risk_daily;")
    }
    # Trailing spaces are dropped (SQL Server would group 'Retail ' with 'Retail' and show either).
    assert got == {
        ("low_activity", "Retail", "DE"): 1, ("no_contact", "Retail", "DE"): 1,
        ("low_activity", "retail", "DE"): 1, ("no_contact", "retail", "DE"): 1,
        ("low_activity", "Retail", "de"): 1, ("no_contact", "Retail", "de"): 1,
    }
    matches = warehouse.query("SELECT COUNT(*) AS n FROM rpt.company_daily_activity WHERE industry_tag = 'retail';")
    assert matches == [{"n": 1}]  # compared as stored too


def test_the_dashboard_and_call_list_daily_label_industries_as_stored_less_trailing_spaces(warehouse):
    """The call list's rows and the per-day numbers share one label per industry: 'Retail ' is 'Retail' (SQL
    Server groups them), 'retail' stays its own; a label taken from a call row as stored would be a third."""
    from company_activity_local.dashboard import load

    crm = [("r1", "R1", "Retail", "DE", None), ("r2", "R2", "retail", "DE", None), ("r3", "R3", "Retail ", "DE", None)]
    stage_usage(warehouse, day(1), [(c, 0, 0) for c, *_ in crm])
    stage_crm(warehouse, day(1), crm)
    run(warehouse, day(1))
    daily = warehouse.query("SELECT industry_tag, companies, call_list FROM rpt.call_list_daily;")
    assert sorted((r["industry_tag"], r["companies"], r["call_list"]) for r in daily) == [
        ("Retail", 2, 2), ("retail", 1, 1)]
    data = load(warehouse, day(1))
    assert sorted(v for v in data.industries if v is not None) == ["Retail", "retail"]
    on_the_list = sorted(data.industries[data.companies[r.company].industry] for r in data.calls[0])
    assert on_the_list == ["Retail", "Retail", "retail"]
