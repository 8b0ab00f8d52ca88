"""transform: the log row it returns, and what a failing procedure run looks like to the caller."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from company_activity_local.warehouse.staging import USAGE_COLUMNS, USAGE_TABLE
from company_activity_local.warehouse.transform import ThresholdError, Thresholds, TransformError, transform
from tests.support.staging_fixtures import record, write_jsonl

DAY = date(2026, 7, 1)
ISO = DAY.isoformat()


def test_returns_the_runs_load_log_row(wh, tmp_path) -> None:
    usage = write_jsonl(tmp_path / "u.jsonl.gz", [record("c1", ISO, 0, 0), record("c2", ISO, 5, 9)])
    first = transform(wh, DAY, [usage], run_id="run-1", thresholds=Thresholds(2.0, 30)).load_log
    assert (first["run_id"], first["run_date"], first.status, first.counts) == ("run-1", DAY, "succeeded", (2, 0, 0))
    again = transform(wh, DAY, [usage], run_id="run-1").load_log  # a reused run id gets its own, newest row
    assert again.counts == (0, 0, 0)
    assert again["load_id"] > first["load_id"]
    reasons = wh.query("SELECT company_id, churn_risk_reason FROM dbo.fact_daily_company_activity ORDER BY company_id")
    assert [(r["company_id"], r["churn_risk_reason"]) for r in reasons] == [
        ("c1", "low_activity,no_contact"), ("c2", "no_contact")]


class DuplicateOnCall:
    """The real warehouse, plus a faulty copy that lands a duplicate row just before the procedure runs."""

    def __init__(self, wh: Any) -> None:
        self.wh = wh

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wh, name)

    def call_procedure(self, name: str, params: dict[str, Any]) -> None:
        self.wh.insert_rows(USAGE_TABLE, USAGE_COLUMNS, [(params["run_date"], "c1", 9, 9, None)])
        self.wh.call_procedure(name, params)


def test_a_failed_run_raises_with_its_failed_log_row_and_changes_nothing(wh, tmp_path) -> None:
    usage = write_jsonl(tmp_path / "u.jsonl.gz", [record("c1", ISO, 1, 1)])
    transform(wh, DAY, [usage], run_id="good")
    before = wh.query("SELECT * FROM dbo.fact_daily_company_activity")
    with pytest.raises(TransformError, match="run bad") as caught:
        transform(DuplicateOnCall(wh), DAY, [usage], run_id="bad")
    assert caught.value.load_log is not None
    assert caught.value.load_log.status == "failed"
    assert "c1" in caught.value.load_log["message"]
    assert wh.query("SELECT * FROM dbo.fact_daily_company_activity") == before


def test_thresholds_are_checked() -> None:
    with pytest.raises(ThresholdError, match="low_activity_threshold must be >= 0"):
        Thresholds(float("nan"), 90)
    with pytest.raises(ThresholdError, match="stale_contact_days must be >= 0, got -1"):
        Thresholds(1.0, -1)
