"""The call list (migration 0011, docs/dashboard.md "Who to call first") on a hand-computed case, on every
engine: who is on it, in which order, which signals mark them, and what stays out of it."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.warehouse_fixtures import build_loaded_template, loaded_warehouse
from tests.support.warehouse_helpers import day, run, stage_crm, stage_usage

# One worker runs the module, so the loaded template below is built once, not once per worker.
pytestmark = pytest.mark.xdist_group("call_list_views")

DAYS = 15
STALE = day(1) - dt.timedelta(days=200)


def _usage(n: int) -> list[tuple[str, int, int]]:
    return [
        ("a", 10 if n <= 8 else 0, 1),  # active, then silent from day 9: low activity and a sharp drop on day 15
        ("b", 5, 1),  # never contacted
        ("c", 4, 1),  # contacted 200 days before day 1
        ("d", 20, 1),  # healthy
        ("e", 3, 1),  # in no CRM snapshot
        ("f", 0, 1),  # inactive from the start: low activity every day
        ("g", 10 if n <= 8 else 4, 1),  # falls from 10 to 4 users a day: a sharp drop, not at risk
    ]


def _crm(n: int) -> list[tuple[str, str, str | None, str | None, dt.date | None]]:
    recent = day(n) - dt.timedelta(days=3)
    return [
        ("a", "Alpha", "saas", "DE", recent),
        ("b", "Beta", "saas", "DE", None),
        ("c", "Gamma", "retail", "FR", STALE),
        ("d", "Delta", "saas", "DE", recent),
        ("f", "Phi", "Retail", "FR", recent),
        ("g", "Gee", "saas", None, recent),
    ]


def _load(warehouse) -> None:
    for n in range(1, DAYS + 1):
        stage_usage(warehouse, day(n), _usage(n))
        stage_crm(warehouse, day(n), _crm(n))
        run(warehouse, day(n))


@pytest.fixture(scope="module")
def loaded_template(tmp_path_factory, duckdb_template):
    return build_loaded_template(tmp_path_factory, duckdb_template, _load)


@pytest.fixture()
def loaded(engine, request, tmp_path):
    yield from loaded_warehouse(engine, request, tmp_path, "loaded_template", _load)


def _call_list(warehouse, n: int) -> list[dict]:
    return warehouse.query("SELECT * FROM rpt.call_list WHERE activity_date = @d ORDER BY call_rank;", {"d": day(n)})


def test_the_call_list_ranks_new_and_dropping_first_then_low_activity_then_stale_contact(loaded):
    rows = _call_list(loaded, DAYS)
    assert [r["company_id"] for r in rows] == ["a", "g", "f", "b", "c"]
    assert [r["call_rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["severity"] for r in rows] == [1, 1, 2, 3, 3]
    assert [r["severity_label"] for r in rows] == [
        "new or dropping", "new or dropping", "low activity", "stale contact", "stale contact",
    ]  # fmt: skip
    by_id = {r["company_id"]: r for r in rows}
    # a: 10 users a day until day 8, none since: the 7-day average of day 15 is 0 against 10 the week before
    assert by_id["a"]["rolling_7d_active_users"] == 0.0 and by_id["a"]["rolling_7d_week_before"] == 10.0
    assert by_id["a"]["is_sharp_drop"] and by_id["a"]["is_newly_at_risk_previous_day"]
    assert by_id["a"]["is_newly_at_risk_week_before"] and by_id["a"]["churn_risk_reason"] == "low_activity"
    # g is not at risk (4 users a day, contacted 3 days ago) but its average halved: it is on the list
    assert not by_id["g"]["is_churn_risk"] and by_id["g"]["is_sharp_drop"]
    assert (by_id["g"]["rolling_7d_active_users"], by_id["g"]["rolling_7d_week_before"]) == (4.0, 10.0)
    # b was never contacted: "never" is the most stale, ahead of c's 214 days
    assert by_id["b"]["days_since_last_contact"] is None and by_id["c"]["days_since_last_contact"] == 214
    assert not by_id["f"]["is_newly_at_risk_previous_day"] and not by_id["f"]["is_newly_at_risk_week_before"]


def test_companies_missing_in_the_crm_are_a_data_quality_row_not_a_call(loaded):
    assert "e" not in {r["company_id"] for r in _call_list(loaded, DAYS)}
    missing = loaded.query("SELECT * FROM rpt.usage_without_crm WHERE activity_date = @d;", {"d": day(DAYS)})
    assert [(r["company_id"], r["daily_active_users"], r["first_seen_date"]) for r in missing] == [("e", 3, day(1))]
    flagged = loaded.query(
        "SELECT churn_risk_reason FROM rpt.company_daily_activity WHERE company_id = 'e' AND activity_date = @d;",
        {"d": day(DAYS)},
    )
    assert flagged == [{"churn_risk_reason": "no_contact"}]  # the fact flags it; the call list leaves it out


def test_newly_at_risk_is_unknown_without_the_day_to_compare_with(loaded):
    first = loaded.query(
        "SELECT company_id, is_newly_at_risk_previous_day AS prev, is_newly_at_risk_week_before AS week, "
        "rolling_7d_week_before, is_sharp_drop FROM rpt.company_signals_daily WHERE activity_date = @d;",
        {"d": day(1)},
    )
    assert first and all(r["prev"] is None and r["week"] is None for r in first)
    assert all(r["rolling_7d_week_before"] is None and not r["is_sharp_drop"] for r in first)
    second = {
        r["company_id"]: r
        for r in loaded.query(
            "SELECT company_id, is_newly_at_risk_previous_day AS prev, is_newly_at_risk_week_before AS week "
            "FROM rpt.company_signals_daily WHERE activity_date = @d;",
            {"d": day(2)},
        )
    }
    assert second["b"]["prev"] is False and second["b"]["week"] is None  # at risk on day 1 too; day -5 not loaded
    assert second["d"]["prev"] is False  # not at risk at all


def test_the_day_before_is_the_previous_loaded_day_not_the_calendar_day(loaded):
    stage_usage(loaded, day(DAYS + 2), [("d", 0, 1)])  # day 16 is never loaded
    run(loaded, day(DAYS + 2))
    days = loaded.query("SELECT previous_loaded_date FROM rpt.loaded_days WHERE activity_date = @d;",
                        {"d": day(DAYS + 2)})  # fmt: skip
    assert days == [{"previous_loaded_date": day(DAYS)}]
    signals = {
        r["company_id"]: r
        for r in loaded.query(
            "SELECT company_id, is_churn_risk, is_newly_at_risk_previous_day AS prev "
            "FROM rpt.company_signals_daily WHERE activity_date = @d;",
            {"d": day(DAYS + 2)},
        )
    }
    assert signals["a"]["is_churn_risk"] and signals["a"]["prev"] is False  # at risk on day 15 already


def test_the_daily_numbers_per_industry_and_country_count_the_same_companies(loaded):
    rows = loaded.query("SELECT * FROM rpt.call_list_daily WHERE activity_date = @d;", {"d": day(DAYS)})
    groups = {(r["industry_tag"], r["country"]): r for r in rows}
    # 'Retail' (f) and 'retail' (c) stay two groups: text is grouped as the fact stores it
    assert set(groups) == {("saas", "DE"), ("retail", "FR"), ("Retail", "FR"), ("saas", None), (None, None)}
    saas = groups[("saas", "DE")]  # a, b, d
    assert (saas["companies"], saas["active_users"], saas["companies_at_risk"]) == (3, 25, 2)
    assert (saas["low_activity"], saas["no_contact"], saas["call_list"], saas["sharp_drops"]) == (1, 1, 2, 1)
    assert (saas["newly_at_risk_previous_day"], saas["newly_at_risk_week_before"]) == (1, 1)
    assert groups[(None, None)]["usage_without_crm"] == 1 and groups[(None, None)]["call_list"] == 0
    assert groups[("saas", None)]["sharp_drops"] == 1 and groups[("saas", None)]["companies_at_risk"] == 0
    assert sum(r["call_list"] for r in rows) == len(_call_list(loaded, DAYS)) == 5
    summary = loaded.query("SELECT companies, companies_at_risk FROM rpt.daily_summary WHERE activity_date = @d;",
                           {"d": day(DAYS)})[0]  # fmt: skip
    assert sum(r["companies"] for r in rows) == summary["companies"] == 7
    assert sum(r["companies_at_risk"] for r in rows) == summary["companies_at_risk"]
