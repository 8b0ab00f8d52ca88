"""dbo.usp_merge_fact_daily_company_activity, rule by rule (docs/fact-rules.md), on small hand-computed
cases, on every engine. (tests/reference compares it with an independent model on random data.)"""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from company_activity_local.warehouse import WarehouseError, open_warehouse
from tests.support.warehouse_helpers import (
    PROCEDURE,
    day,
    dim,
    fact,
    last_log,
    run,
    snapshot_all,
    stage_crm,
    stage_usage,
)

JAN_1 = dt.date(2026, 1, 1)


def test_rule1_crm_attributes_come_from_the_newest_snapshot_and_usage_only_companies_get_a_null_row(warehouse):
    stage_crm(warehouse, day(3), [("a", "Acme", "saas", "FR", day(1))])
    stage_usage(warehouse, day(3), [("a", 3, 30), ("u", 1, 1)])
    run(warehouse, day(3))
    # Backfill of an older snapshot: new contact date and first_seen, but attributes stay.
    stage_crm(warehouse, day(1), [("a", "Acme Old", "retail", "DE", JAN_1)])
    run(warehouse, day(1))

    companies = dim(warehouse)
    assert companies["a"] == {
        "company_id": "a",
        "company_name": "Acme",
        "industry_tag": "saas",
        "country": "FR",
        "crm_snapshot_date": day(3),
        "in_latest_crm_snapshot": True,
        "first_seen_date": day(1),
    }
    assert companies["u"] == {
        "company_id": "u",
        "company_name": None,
        "industry_tag": None,
        "country": None,
        "crm_snapshot_date": None,
        "in_latest_crm_snapshot": False,
        "first_seen_date": day(3),
    }
    contacts = warehouse.query("SELECT company_id, contact_date FROM dbo.crm_contact_history ORDER BY contact_date;")
    assert [(r["company_id"], r["contact_date"]) for r in contacts] == [("a", JAN_1), ("a", day(1))]
    rows = fact(warehouse)
    assert set(rows) == {("a", day(1)), ("a", day(3)), ("u", day(3))}
    assert rows[("a", day(1))]["company_name"] == "Acme"  # rule 7: current attributes on old rows too
    assert rows[("u", day(3))]["company_name"] is None and rows[("u", day(3))]["daily_active_users"] == 1

    # A newer snapshot without `a`: `a` leaves the latest snapshot; a newcomer joins it.
    stage_crm(warehouse, day(5), [("b", "Beta", None, "NL", None)])
    run(warehouse, day(5))
    companies = dim(warehouse)
    assert (companies["a"]["in_latest_crm_snapshot"], companies["b"]["in_latest_crm_snapshot"]) == (False, True)
    assert companies["a"]["company_name"] == "Acme"  # keeps its last known attributes


def test_rule2_grain_is_usage_plus_the_crm_set_and_a_reload_deletes_rows_that_left_it(warehouse):
    stage_crm(warehouse, day(2), [("a", "A", None, None, None), ("b", "B", None, None, None)])
    stage_usage(warehouse, day(2), [("a", 4, 40)])
    log = run(warehouse, day(2))
    assert (log["rows_inserted"], log["rows_updated"], log["rows_deleted"]) == (2, 0, 0)
    rows = fact(warehouse)
    assert (rows[("b", day(2))]["daily_active_users"], rows[("b", day(2))]["daily_events_count"]) == (0, 0)

    # No snapshot for day 3: the CRM set is the latest snapshot's companies seen on or before day 3.
    stage_usage(warehouse, day(3), [("c", 1, 2)])
    stage_crm(warehouse, day(5), [("d", "D", None, None, None)])  # staged for later, not read on day 3
    run(warehouse, day(3))
    assert {k for k in fact(warehouse) if k[1] == day(3)} == {("a", day(3)), ("b", day(3)), ("c", day(3))}

    # Day 5's snapshot (d only) becomes the latest; day 4 has no snapshot and d was first seen on day 5.
    run(warehouse, day(5))
    stage_usage(warehouse, day(4), [("c", 1, 1)])
    run(warehouse, day(4))
    assert {k for k in fact(warehouse) if k[1] == day(4)} == {("c", day(4))}

    # Reload day 2 with b gone from its snapshot and no usage: b's row of day 2 is deleted.
    stage_crm(warehouse, day(2), [("a", "A", None, None, None)])
    stage_usage(warehouse, day(2), [])
    log = run(warehouse, day(2))
    assert log["rows_deleted"] == 1
    rows = fact(warehouse)
    assert ("b", day(2)) not in rows
    assert rows[("a", day(2))]["daily_active_users"] == 0


def test_rule3_rolling_average_counts_missing_days_as_zero_and_divides_by_days_since_first_seen(warehouse):
    for n, users in [(1, 7), (2, 3), (4, 2), (6, 4), (8, 6), (9, 0)]:
        stage_usage(warehouse, day(n), [("a", users, 1)])
        run(warehouse, day(n))
    rolling = {d: r["7d_rolling_active_users"] for (_, d), r in fact(warehouse).items()}
    assert rolling == {
        day(1): 7.0,  # 7 / 1
        day(2): 5.0,  # (7 + 3) / 2
        day(4): 3.0,  # (7 + 3 + 0 + 2) / 4
        day(6): 16 / 6,  # (7 + 3 + 0 + 2 + 0 + 4) / 6
        day(8): 15 / 7,  # days 2..8: 3 + 2 + 4 + 6
        day(9): 12 / 7,  # days 3..9: 2 + 4 + 6 + 0
    }
    assert all(isinstance(value, float) for value in rolling.values())


def test_rule4_days_since_last_contact_uses_the_latest_contact_on_or_before_the_row_date(warehouse):
    stage_crm(warehouse, day(1), [("a", "A", None, None, JAN_1), ("b", "B", None, None, None)])
    run(warehouse, day(1))
    stage_crm(warehouse, day(3), [("a", "A", None, None, day(2)), ("b", "B", None, None, None)])
    run(warehouse, day(3))
    # A snapshot can carry a contact date after its own date; earlier rows must not see it.
    stage_crm(warehouse, day(4), [("a", "A", None, None, day(6)), ("b", "B", None, None, None)])
    run(warehouse, day(4))
    stage_usage(warehouse, day(6), [("a", 1, 1)])
    run(warehouse, day(6))

    days = {(c, d): r["days_since_last_contact"] for (c, d), r in fact(warehouse).items()}
    assert days == {
        ("a", day(1)): 59,  # 2026-01-01 .. 2026-03-01
        ("a", day(3)): 1,
        ("a", day(4)): 2,
        ("a", day(6)): 0,
        ("b", day(1)): None,
        ("b", day(3)): None,
        ("b", day(4)): None,
        ("b", day(6)): None,  # in the latest snapshot, no usage, still no contact
    }


def test_rule5_churn_risk_flags_each_reason_in_order_with_the_given_thresholds(warehouse):
    d = day(20)
    stage_crm(
        warehouse,
        d,
        [
            ("p", "P", None, None, d - dt.timedelta(days=10)),  # exactly at both thresholds: no risk
            ("q", "Q", None, None, d - dt.timedelta(days=11)),
            ("r", "R", None, None, None),
            ("s", "S", None, None, None),
            ("t", "T", None, None, d - dt.timedelta(days=11)),
        ],
    )
    stage_usage(warehouse, d, [("p", 2, 0), ("q", 1, 0), ("r", 5, 0), ("s", 0, 0), ("t", 3, 0)])
    run(warehouse, d, low_activity_threshold=2.0, stale_contact_days=10)
    flags = {c: (r["is_churn_risk"], r["churn_risk_reason"]) for (c, _), r in fact(warehouse).items()}
    assert flags == {
        "p": (False, None),
        "q": (True, "low_activity,stale_contact"),
        "r": (True, "no_contact"),
        "s": (True, "low_activity,no_contact"),
        "t": (True, "stale_contact"),
    }

    # The defaults are 1.0 and 90 days.
    run(warehouse, d)
    flags = {c: (r["is_churn_risk"], r["churn_risk_reason"]) for (c, _), r in fact(warehouse).items()}
    assert flags["q"] == (False, None) and flags["s"] == (True, "low_activity,no_contact")


def _day_inputs(n: int) -> tuple[list[tuple], list[tuple]]:
    """Inputs of a small world: attributes change on day 3, x appears in usage on day 3 only but
    in the snapshot of day 1 (first_seen moves back when day 1 is loaded late), contacts move."""
    crm = [
        ("a", "Acme" if n < 3 else "Acme Corp", "saas", "FR", day(n - 1)),
        ("b", "Beta", None, "DE", JAN_1 if n != 2 else day(1)),
    ]
    if n == 1:
        crm.append(("x", "X", "retail", None, None))
    usage = [("a", n, 10 * n), ("b", 2 * n % 5, n)] + ([("x", 9, 9)] if n == 3 else [])
    return crm, usage


def _load(warehouse, order: list[int]) -> None:
    for n in order:
        crm, usage = _day_inputs(n)
        stage_crm(warehouse, day(n), crm)
        stage_usage(warehouse, day(n), usage)
        run(warehouse, day(n))


def _values(warehouse) -> dict:
    return {
        key: {k: v for k, v in row.items() if k not in ("loaded_at", "load_run_id")}
        for key, row in fact(warehouse).items()
    }


def test_rule6_loading_dates_in_any_order_gives_the_table_of_loading_them_in_order(engine, warehouse, request):
    _load(warehouse, [1, 2, 3, 4])
    in_order = _values(warehouse)
    assert in_order[("x", day(3))]["7d_rolling_active_users"] == 9 / 3  # first seen on day 1
    assert in_order[("a", day(1))]["company_name"] == "Acme Corp"

    for table in ("dbo.fact_daily_company_activity_base", "dbo.dim_company", "dbo.crm_contact_history",
                  "etl.load_log"):
        warehouse.execute(f"DELETE FROM {table};")
    _load(warehouse, [3, 1, 4, 2])
    assert _values(warehouse) == in_order


def test_rule6_flag_recheck_runs_only_when_an_earlier_run_used_other_thresholds(warehouse):
    """load_log.message says whether the touched companies' other rows were re-checked; after a
    threshold change they get the new flags, and NULL thresholds (logged before 0006) force it."""

    def load(n: int, contact: dt.date, **thresholds) -> dict:
        stage_crm(warehouse, day(n), [("a", "A", None, None, contact), ("b", "B", None, None, day(1))])
        stage_usage(warehouse, day(n), [("a", 2, 1), ("b", 2, 1)])
        return run(warehouse, day(n), **thresholds)

    assert load(1, day(1))["message"] == "flags re-checked: 0 rows changed"  # no earlier succeeded run
    for n in range(2, 11):
        log = load(n, day(1))
        assert (log["message"], log["low_activity_threshold"], log["stale_contact_days"]) == (
            "flag re-check skipped", 1.0, 90)

    # A failed run with other thresholds logs them but wrote no flag: the next run still skips.
    stage_usage(warehouse, day(11), [("a", 1, 1), ("a", 1, 1)])
    with pytest.raises(WarehouseError):
        run(warehouse, day(11), run_id="dup", low_activity_threshold=5.0)
    assert (last_log(warehouse, "dup")["status"], last_log(warehouse, "dup")["low_activity_threshold"]) == (
        "failed", 5.0)
    assert load(11, day(1))["message"] == "flag re-check skipped"

    # Day 12 raises the threshold and gives `a` a new contact (touched from day 12 on): its rows of
    # days 1-11, outside every recomputed range, get the new flag from the re-check; `b` is untouched.
    log = load(12, day(12), low_activity_threshold=3.0)
    assert log["message"] == "flags re-checked: 11 rows changed"
    assert (log["rows_inserted"], log["rows_updated"], log["low_activity_threshold"]) == (2, 11, 3.0)
    rows = fact(warehouse)
    assert {rows[("a", day(n))]["churn_risk_reason"] for n in range(1, 13)} == {"low_activity"}
    assert {rows[("b", day(n))]["churn_risk_reason"] for n in range(1, 12)} == {None}
    assert rows[("b", day(12))]["churn_risk_reason"] == "low_activity"
    # An earlier run used 1.0: every later run re-checks, even with 3.0 again.
    assert load(13, day(12), low_activity_threshold=3.0)["message"] == "flags re-checked: 0 rows changed"

    warehouse.execute("DELETE FROM etl.load_log WHERE low_activity_threshold <> 1.0;")
    assert load(14, day(12))["message"] == "flag re-check skipped"
    warehouse.execute("UPDATE etl.load_log SET low_activity_threshold = NULL WHERE load_id = 1;")
    assert load(15, day(12))["message"] == "flags re-checked: 0 rows changed"


def test_rule6_a_late_day_recomputes_the_six_days_after_it_and_nothing_else(warehouse):
    for n in range(1, 11):
        stage_usage(warehouse, day(n), [("a", 1, 1), ("b", 1, 1)])
        run(warehouse, day(n), run_id=f"first-{n}")
    stage_usage(warehouse, day(3), [("a", 8, 1), ("b", 1, 1)])
    log = run(warehouse, day(3), run_id="late")
    # a's row of day 3 (daily value) and days 4..9 (rolling average) change; b's rows do not.
    assert (log["rows_inserted"], log["rows_updated"], log["rows_deleted"]) == (0, 7, 0)
    changed = {k for k, r in fact(warehouse).items() if r["load_run_id"] == "late"}
    assert changed == {("a", day(n)) for n in range(3, 10)}
    assert fact(warehouse)[("a", day(9))]["7d_rolling_active_users"] == 14 / 7


def test_rule6_rows_beyond_the_window_follow_a_change_of_first_seen_date_or_contact_history(warehouse):
    stage_usage(warehouse, day(10), [("y", 7, 7)])
    run(warehouse, day(10))
    assert fact(warehouse)[("y", day(10))]["7d_rolling_active_users"] == 7.0
    stage_usage(warehouse, day(1), [("y", 1, 1)])  # y was first seen nine days earlier than thought
    log = run(warehouse, day(1))
    assert (log["rows_inserted"], log["rows_updated"]) == (1, 1)
    assert fact(warehouse)[("y", day(10))]["7d_rolling_active_users"] == 1.0  # 7 / 7

    for n, contact in [(11, None), (20, None), (12, day(15))]:  # day 12 arrives last, with a new contact
        stage_crm(warehouse, day(n), [("z", "Z", None, None, contact)])
        run(warehouse, day(n))
    row = fact(warehouse)[("z", day(20))]
    assert (row["days_since_last_contact"], row["churn_risk_reason"]) == (5, "low_activity")


def test_rule7_an_attribute_change_reaches_every_row_and_rewrites_none(warehouse):
    """Attributes are read through the fact view from dim_company: a rename changes one dim row, and no
    stored fact row (their load_run_id stays; docs/fact-rules.md rule 7)."""
    for n in (1, 2, 3):
        stage_crm(warehouse, day(n), [("a", "Acme", "saas", "FR", JAN_1), ("b", "Beta", None, None, JAN_1)])
        run(warehouse, day(n))
    stage_crm(warehouse, day(4), [("a", "Acme Corp", "saas", "FR", JAN_1), ("b", "Beta", None, None, JAN_1)])
    log = run(warehouse, day(4), run_id="rename")
    assert (log["rows_inserted"], log["rows_updated"]) == (2, 0)
    rows = fact(warehouse)
    assert {rows[("a", day(n))]["company_name"] for n in (1, 2, 3, 4)} == {"Acme Corp"}
    assert all(r["load_run_id"] != "rename" for (_, d), r in rows.items() if d < day(4))
    base = warehouse.query("SELECT COUNT(*) AS n FROM dbo.fact_daily_company_activity_base WHERE load_run_id = @r;",
                           {"r": "rename"})
    assert base == [{"n": 2}]  # the two rows of day 4


def test_rule7_a_change_of_case_is_a_change_and_ids_differing_in_case_are_different_companies(warehouse):
    stage_crm(warehouse, day(1), [("acme", "ACME corp", "SaaS", "fr", JAN_1), ("ACME", "Other", None, None, None)])
    stage_usage(warehouse, day(1), [("acme", 1, 1), ("ACME", 2, 2)])  # not duplicates: ids compare exactly
    run(warehouse, day(1))
    stage_crm(warehouse, day(2), [("acme", "Acme Corp", "saas", "FR", JAN_1), ("ACME", "Other", None, None, None)])
    log = run(warehouse, day(2))
    assert (log["rows_inserted"], log["rows_updated"]) == (2, 0)
    rows = fact(warehouse)
    assert {(c, r["company_name"], r["industry_tag"], r["country"]) for (c, _), r in rows.items()} == {
        ("acme", "Acme Corp", "saas", "FR"),
        ("ACME", "Other", None, None),
    }


def test_rule8_a_rerun_changes_nothing_and_logs_zero_counts(warehouse):
    for n in (1, 2, 3):
        crm, usage = _day_inputs(n)
        stage_crm(warehouse, day(n), crm)
        stage_usage(warehouse, day(n), usage)
        run(warehouse, day(n))
    before = warehouse.query("SELECT * FROM dbo.fact_daily_company_activity ORDER BY company_id, activity_date;")
    dims = dim(warehouse)
    log = run(warehouse, day(2), run_id="rerun")
    assert (log["status"], log["rows_inserted"], log["rows_updated"], log["rows_deleted"]) == ("succeeded", 0, 0, 0)
    after = warehouse.query("SELECT * FROM dbo.fact_daily_company_activity ORDER BY company_id, activity_date;")
    assert after == before  # loaded_at and load_run_id included
    assert dim(warehouse) == dims


def test_rule9_duplicate_staging_rows_fail_the_run_and_change_nothing(warehouse):
    stage_crm(warehouse, day(1), [("a", "A", None, None, None)])
    stage_usage(warehouse, day(1), [("a", 1, 1)])
    run(warehouse, day(1))
    twice = ("zz-1", "Z", None, None, None)
    stage_crm(warehouse, day(2), [("a", "A", None, None, None), twice, twice])
    stage_usage(warehouse, day(2), [("a", 1, 1)])
    before = snapshot_all(warehouse)

    with pytest.raises(WarehouseError) as caught:
        run(warehouse, day(2), run_id="dup")
    assert caught.value.number == 50002
    assert str(caught.value) == (
        "stg.crm_company has duplicate rows for snapshot_date 2026-03-02 (e.g. company_id 'zz-1')"
    )
    after = snapshot_all(warehouse)
    failed = after.pop("etl.load_log")[-1]
    before.pop("etl.load_log")
    assert after == before
    assert (failed["run_id"], failed["status"], failed["message"]) == ("dup", "failed", str(caught.value))
    assert (failed["rows_inserted"], failed["rows_updated"], failed["rows_deleted"]) == (0, 0, 0)

    stage_usage(warehouse, day(2), [("a", 1, 1), ("a", 2, 2)])
    stage_crm(warehouse, day(2), [])
    with pytest.raises(WarehouseError, match=r"^stg.product_usage_daily has duplicate rows .* company_id 'a'"):
        run(warehouse, day(2))


def test_rule9_a_failure_after_the_first_writes_rolls_every_table_back(warehouse):
    stage_crm(warehouse, day(1), [("a", "A1", None, None, None)])
    stage_usage(warehouse, day(1), [("a", 5, 5)])
    run(warehouse, day(1))
    # Corrupt the stored state: a first_seen_date after an existing row makes that row's divisor
    # N = 0 when day 3's new contact date (day 1) recomputes the rows of `a` from day 1 on, after
    # dim_company and the contact history were already written in the run.
    warehouse.execute("UPDATE dbo.dim_company SET first_seen_date = @d WHERE company_id = 'a';", {"d": day(2)})
    stage_crm(warehouse, day(3), [("a", "A2", None, None, day(1))])
    stage_usage(warehouse, day(3), [("a", 1, 1)])
    before = snapshot_all(warehouse)

    with pytest.raises(WarehouseError) as caught:
        run(warehouse, day(3), run_id="boom")
    assert caught.value.number == 8134
    assert "Divide by zero" in str(caught.value)
    after = snapshot_all(warehouse)
    failed = after.pop("etl.load_log")[-1]
    before.pop("etl.load_log")
    assert after == before
    assert (failed["status"], failed["message"]) == ("failed", str(caught.value))


def test_rule9_null_arguments_are_refused_before_anything_runs(warehouse):
    with pytest.raises(WarehouseError, match="must not be NULL") as caught:
        warehouse.call_procedure(PROCEDURE, {"run_date": None, "run_id": "x"})
    assert caught.value.number == 50000
    assert warehouse.query("SELECT COUNT(*) AS n FROM etl.load_log;") == [{"n": 0}]


@pytest.fixture()
def second_session(engine, warehouse, request):
    """Another connection to the same warehouse."""
    if engine == "duckdb":
        other = open_warehouse(duckdb_path=warehouse.path)
    else:
        other = open_warehouse(connection_string=request.getfixturevalue("sqlserver_connection_string"))
    yield other
    other.close()


def test_rule9_a_run_waits_for_the_load_lock_held_by_another_session(warehouse, second_session):
    stage_usage(warehouse, day(1), [("a", 1, 1)])
    second_session.execute(
        "SET XACT_ABORT ON; BEGIN TRANSACTION; DECLARE @granted INT;"
        " EXEC @granted = sp_getapplock @Resource = N'dbo.usp_merge_fact_daily_company_activity',"
        " @LockMode = N'Exclusive', @LockOwner = N'Transaction', @LockTimeout = 0;"
        " IF @granted < 0 THROW 50000, N'lock not granted', 1;"
    )
    errors: list[BaseException] = []

    def load() -> None:
        try:
            run(warehouse, day(1), run_id="waiting")
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    worker = threading.Thread(target=load)
    worker.start()
    worker.join(timeout=1.0)
    assert worker.is_alive(), "the run did not wait for the lock"
    assert second_session.query("SELECT COUNT(*) AS n FROM etl.load_log;") == [{"n": 0}]
    second_session.execute("COMMIT TRANSACTION;")
    worker.join(timeout=120)
    assert not worker.is_alive() and not errors
    assert last_log(warehouse, "waiting")["status"] == "succeeded"


# -- inputs the engines would read differently -----------------------------------------------------


def test_inputs_a_usage_id_with_surrounding_spaces_is_refused_before_it_can_collide(warehouse):
    """'acme ' and 'acme' are one id for SQL Server (trailing spaces are padded away) and two for DuckDB:
    the procedure refuses the staged day on every engine, naming the id (50005), before the duplicate
    check would find a duplicate on SQL Server only."""
    stage_usage(warehouse, day(1), [("acme", 1, 1), ("acme ", 2, 2)])
    before = snapshot_all(warehouse)
    with pytest.raises(WarehouseError) as caught:
        run(warehouse, day(1), run_id="spaces")
    assert caught.value.number == 50005
    assert str(caught.value) == ("stg.product_usage_daily: company_id 'acme ' of usage_date 2026-03-01 has leading "
                                 "or trailing whitespace (docs/usage-api.md)")
    after = snapshot_all(warehouse)
    assert after.pop("etl.load_log")[-1]["status"] == "failed"
    before.pop("etl.load_log")
    assert after == before


def test_inputs_a_percent_in_an_id_reaches_the_error_and_the_load_log_intact(warehouse):
    """THROW reserves % in its message: the procedure escapes the ids it puts there."""
    stage_usage(warehouse, day(1), [("ac%me", 1, 1), ("ac%me", 2, 2)])
    with pytest.raises(WarehouseError) as caught:
        run(warehouse, day(1), run_id="percent")
    expected = "stg.product_usage_daily has duplicate rows for usage_date 2026-03-01 (e.g. company_id 'ac%me')"
    assert (caught.value.number, str(caught.value)) == (50001, expected)
    assert last_log(warehouse, "percent")["message"] == expected


@pytest.mark.parametrize("contact", [dt.date(1, 1, 1), dt.date(1899, 12, 31)])
def test_inputs_a_contact_date_before_1900_is_refused(warehouse, contact):
    """A placeholder such as 0001-01-01 (before 0001-01-07 the 7-day arithmetic would overflow on SQL
    Server, error 517): refused, naming the company and the date (50006)."""
    stage_crm(warehouse, day(1), [("a", "A", None, None, contact)])
    with pytest.raises(WarehouseError) as caught:
        run(warehouse, day(1), run_id="old-contact")
    assert caught.value.number == 50006
    assert f"company_id 'a' of snapshot_date 2026-03-01 has last_contact_date {contact.isoformat()}" in str(
        caught.value)
    assert warehouse.query("SELECT COUNT(*) AS n FROM dbo.crm_contact_history;") == [{"n": 0}]


def _staged_days(warehouse, table: str, column: str) -> list[dt.date]:
    return [r["d"] for r in warehouse.query(f"SELECT DISTINCT {column} AS d FROM {table} ORDER BY {column};")]


def test_staging_keeps_the_retention_days_and_purges_at_most_a_week_a_run(warehouse):
    for n in range(1, 21):
        stage_usage(warehouse, day(n), [("a", 1, 1)])
        stage_crm(warehouse, day(n), [("a", "A", None, None, None)])
    for table in ("stg.product_usage_daily", "stg.crm_company"):  # staged two days ago
        warehouse.execute(f"UPDATE {table} SET staged_at = DATEADD(DAY, -2, SYSUTCDATETIME());")
    stage_usage(warehouse, day(2), [("a", 1, 1)])  # day 2 copied again just now: a backfill about to merge it
    stage_usage(warehouse, day(40), [("a", 1, 1)])
    run(warehouse, day(40), staging_retention_days=35)
    # day(40) - 35 = day(5); the oldest staged day is day 1: days 1..4 go, day 2 (staged just now) stays.
    assert _staged_days(warehouse, "stg.product_usage_daily", "usage_date") == [day(2), *map(day, range(5, 21)),
                                                                                 day(40)]
    assert _staged_days(warehouse, "stg.crm_company", "snapshot_date") == list(map(day, range(5, 21)))
    run(warehouse, day(40), staging_retention_days=7)  # day(33): at most the 7 days from the oldest (day 2) on
    assert _staged_days(warehouse, "stg.product_usage_daily", "usage_date") == [day(2), *map(day, range(9, 21)),
                                                                                 day(40)]
    assert _staged_days(warehouse, "stg.crm_company", "snapshot_date") == list(map(day, range(12, 21)))


def test_rule6_history_past_the_run_budget_waits_in_the_backlog_and_reruns_catch_it_up(warehouse):
    """A CRM change that moves much history is bounded work: of each touched range a run recomputes the
    newest @max_history_rows / (touched companies) days, the older part waits in etl.fact_history_backlog
    with the values it had, and each later run (a rerun of the date too) takes the next slice."""
    companies = ["a", "b", "c"]
    for n in range(1, 11):
        stage_crm(warehouse, day(n), [(c, c.upper(), None, None, None) for c in companies])
        stage_usage(warehouse, day(n), [(c, 1, 1) for c in companies])
        run(warehouse, day(n))
    # Day 11's snapshot says each company was first contacted on day 1: rows 1..10 of each must change.
    stage_crm(warehouse, day(11), [(c, c.upper(), None, None, day(1)) for c in companies])
    stage_usage(warehouse, day(11), [(c, 1, 1) for c in companies])

    def since() -> set:
        return {tuple(row["days_since_last_contact"] for (c, _), row in sorted(fact(warehouse).items()) if c == company)
                for company in companies}

    def backlog() -> list:
        return [(r["company_id"], r["recompute_from"], r["recompute_to"]) for r in warehouse.query(
            "SELECT company_id, recompute_from, recompute_to FROM etl.fact_history_backlog ORDER BY company_id;")]

    # 12 rows for 3 companies: the newest 4 days of each range (days 7-10), then days 3-6, then days 1-2.
    log = run(warehouse, day(11), run_id="batch-1", max_history_rows=12)
    assert since() == {(None,) * 6 + (6, 7, 8, 9, 10)}  # day 11's rows are right, days 1-6 wait
    assert backlog() == [(c, day(1), day(6)) for c in companies]
    assert log["message"] == "flag re-check skipped; history backlog: 3 companies (3 deferred by this run)"
    assert (log["rows_inserted"], log["rows_updated"]) == (3, 12)
    log = run(warehouse, day(11), run_id="batch-2", max_history_rows=12)  # a rerun: the next slice
    assert (since(), backlog(), log["rows_updated"]) == (
        {(None, None, 2, 3, 4, 5, 6, 7, 8, 9, 10)}, [(c, day(1), day(2)) for c in companies], 12)
    log = run(warehouse, day(11), run_id="batch-3", max_history_rows=12)
    assert (since(), backlog(), log["rows_updated"], log["message"]) == (
        {tuple(range(11))}, [], 6, "flag re-check skipped")
    log = run(warehouse, day(11), run_id="batch-4", max_history_rows=12)
    assert (log["rows_inserted"], log["rows_updated"], log["rows_deleted"]) == (0, 0, 0)  # caught up
