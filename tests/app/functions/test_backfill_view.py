"""The per-date load view of a backfill run (pure: activity runs of RunDailyLoad -> a state per date)."""

from __future__ import annotations

from datetime import date, timedelta

from company_activity.orchestration.backfill_load import date_loads, rerun_command, start_parameters

DAYS = [date(2026, 3, 1) + timedelta(days=i) for i in range(4)]


def run(status: str, start: str, day: str | None = None, child: str | None = None, error: str = "") -> dict:
    body: dict = {"status": status, "activityRunStart": start, "output": {"pipelineRunId": child} if child else {},
                  "error": {"message": error}}
    if day is not None:
        body["input"] = {"parameters": {"runDate": day}}
    return body


def test_without_run_date_inputs_the_nth_activity_run_is_the_nth_date() -> None:
    # Returned out of order; the sequential ForEach started them in date order.
    runs = [run("InProgress", "2026-03-05T00:10:00Z"), run("Succeeded", "2026-03-05T00:00:00Z", child="c1"),
            run("Failed", "2026-03-05T00:05:00Z", child="c2", error="boom")]
    loads = date_loads(DAYS, "InProgress", runs)
    assert [loads[d].state for d in DAYS] == ["succeeded", "failed", "running", "queued"]
    assert (loads[DAYS[0]].pipeline_run_id, loads[DAYS[1]].error) == ("c1", "boom")


def test_a_retried_date_keeps_its_latest_run_and_an_ended_run_marks_the_rest_not_run() -> None:
    runs = [run("Failed", "2026-03-05T00:00:00Z", day="2026-03-02", error="first"),
            run("Succeeded", "2026-03-05T01:00:00Z", day="2026-03-02T00:00:00Z"),
            run("Cancelled", "2026-03-05T02:00:00Z", day="2026-03-01")]
    loads = date_loads(DAYS, "Cancelled", runs)
    assert [loads[d].state for d in DAYS] == ["cancelled", "succeeded", "not run", "not run"]
    assert loads[DAYS[1]].error is None  # only a failed run carries an error


def test_create_run_body_and_rerun_command() -> None:
    assert start_parameters(DAYS[0], DAYS[-1]) == {"startDate": "2026-03-01", "endDate": "2026-03-04"}
    command = rerun_command("adf-x", "rg-x", [DAYS[2], DAYS[1]])
    assert "--resource-group rg-x --factory-name adf-x --name PL_backfill_company_activity" in command
    assert '{"startDate": "2026-03-02", "endDate": "2026-03-03"}' in command
