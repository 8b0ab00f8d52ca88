"""Pipeline `concurrency` in the local executor: at most N runs of a pipeline at once, later runs queue.

The synthetic pipelines run one activity of a test-only type that blocks until the test releases it, so each
test controls exactly when a run is inside the pipeline. The last test is the reason for the rule: a backfill's
child run and a manual run of PL_daily_company_activity for the same date, started at once on real local
services, must not interleave their staging deletes and inserts (docs/pipeline.md, "One run per date at a time").
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import pytest

from company_activity_local.pipeline.activities.copy import run_copy
from company_activity_local.pipeline.admission import PipelineQueueFull, RunAdmission
from company_activity_local.pipeline.context import ActivityContext, WaitEvent
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.local_resources import LocalResources
from company_activity_local.pipeline.resources import MAX_QUEUED_RUNS
from company_activity_local.pipeline.results import PipelineDefinitionError, PipelineRunResult, Status
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.simulator import SimulatorConfig, UsageApiSimulator
from company_activity_local.services.slack_catcher import SlackCatcher
from tests.support.night import PARAMETERS, PIPELINE, LocalNight, deployed_duckdb
from tests.support.pipeline_fixtures import factory_of

TIMEOUT_S = 20


class Gate:
    """The test-only activity type `Gate`: records when a run enters and leaves it, and holds the run inside
    until the test opens its run's gate."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.inside = threading.Condition()
        self.open: dict[str, threading.Event] = {}

    def runner(self, activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
        label = str(ctx.state.parameters["label"])
        with self.inside:
            self.events.append(f"enter {label}")
            self.inside.notify_all()
        assert self.open.setdefault(label, threading.Event()).wait(TIMEOUT_S), f"gate {label} never opened"
        with self.inside:
            self.events.append(f"leave {label}")
        return {}

    def wait_inside(self, label: str) -> None:
        with self.inside:
            assert self.inside.wait_for(lambda: f"enter {label}" in self.events, TIMEOUT_S), self.events

    def release(self, label: str) -> None:
        self.open.setdefault(label, threading.Event()).set()


def gated_pipeline(concurrency: int | None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "activities": [{"name": "Inside", "type": "Gate", "dependsOn": [], "typeProperties": {}}],
        "parameters": {"label": {"type": "String"}},
    }
    if concurrency is not None:
        properties["concurrency"] = concurrency
    return {"name": "PL_gated", "properties": properties}


def start(executor: PipelineExecutor, label: str, results: dict[str, PipelineRunResult]) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.__setitem__(label, executor.run("PL_gated", {"label": label})))
    thread.start()
    return thread


def executor_of(resources: LocalResources, gate: Gate, concurrency: int | None,
                waits: list[WaitEvent] | None = None) -> PipelineExecutor:
    return PipelineExecutor(factory_of(gated_pipeline(concurrency)), resources, runners={"Gate": gate.runner},
                            wait_listener=waits.append if waits is not None else None)


def test_with_concurrency_one_a_second_run_queues_until_the_first_ends(offline_resources: LocalResources) -> None:
    gate, results, waits = Gate(), {}, []
    executor = executor_of(offline_resources, gate, 1, waits)
    first = start(executor, "first", results)
    gate.wait_inside("first")
    second = start(executor, "second", results)
    with gate.inside:  # the second run announces that it queues, and does not enter while the first is inside
        assert gate.inside.wait_for(lambda: bool(waits), TIMEOUT_S)
    assert gate.events == ["enter first"]
    assert [(w.kind, w.activity) for w in waits] == [("queued", "PL_gated")]
    assert "concurrency 1 reached: queued behind 1 run(s)" in waits[0].detail
    gate.release("second")
    gate.release("first")
    first.join(TIMEOUT_S)
    second.join(TIMEOUT_S)
    assert gate.events == ["enter first", "leave first", "enter second", "leave second"]
    assert results["first"].succeeded and results["second"].succeeded
    assert results["first"].queued_s == 0.0 < results["second"].queued_s


def test_without_concurrency_runs_overlap(offline_resources: LocalResources) -> None:
    gate, results = Gate(), {}
    executor = executor_of(offline_resources, gate, None)
    threads = [start(executor, label, results) for label in ("first", "second")]
    gate.wait_inside("first")
    gate.wait_inside("second")  # both inside at once: no limit by default
    for label in ("first", "second"):
        gate.release(label)
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert all(r.succeeded for r in results.values())


def test_concurrency_two_admits_two_and_queues_the_third(offline_resources: LocalResources) -> None:
    gate, results = Gate(), {}
    executor = executor_of(offline_resources, gate, 2)
    threads = [start(executor, label, results) for label in ("a", "b")]
    gate.wait_inside("a")
    gate.wait_inside("b")
    threads.append(start(executor, "c", results))
    gate.release("c")
    gate.release("a")
    gate.wait_inside("c")
    assert gate.events.index("enter c") > gate.events.index("leave a")
    gate.release("b")
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert sorted(results) == ["a", "b", "c"] and all(r.succeeded for r in results.values())


@pytest.mark.parametrize("value", [0, 51, "1", True])
def test_a_concurrency_outside_data_factorys_range_is_refused(offline_resources: LocalResources,
                                                              value: Any) -> None:
    executor = executor_of(offline_resources, Gate(), value)
    with pytest.raises(PipelineDefinitionError, match=r"properties\.concurrency must be an integer from 1 to 50"):
        executor.run("PL_gated", {"label": "x"})


def test_at_most_a_hundred_runs_queue() -> None:
    admission, held, release = RunAdmission(), threading.Event(), threading.Event()
    queued = threading.Semaphore(0)

    def hold() -> None:
        with admission.slot("PL_x", 1):
            held.set()
            release.wait(TIMEOUT_S)

    def wait_in_queue() -> None:
        with admission.slot("PL_x", 1, lambda ahead: queued.release()):
            pass

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(TIMEOUT_S)
    waiting = [threading.Thread(target=wait_in_queue) for _ in range(MAX_QUEUED_RUNS)]
    for thread in waiting:
        thread.start()
    for _ in waiting:
        assert queued.acquire(timeout=TIMEOUT_S)
    with pytest.raises(PipelineQueueFull, match="1 run\\(s\\) running and 100 queued"), admission.slot("PL_x", 1):
        pass
    release.set()
    for thread in [holder, *waiting]:
        thread.join(TIMEOUT_S)
        assert not thread.is_alive()
    with admission.slot("PL_x", 1) as waited:  # everything drained: the next run starts at once
        assert waited < 1


# -- the reason for the rule: two runs for one date ---------------------------------------------------------------
COMPANIES, SEED = 20, 11
DAY = date(2026, 5, 4)
USAGE_DELETE = "DELETE FROM stg.product_usage_daily"


class SerializedWarehouse:
    """The night's DuckDB warehouse for two threads: one statement at a time (a DuckDB connection is not
    thread-safe), with no change to what each statement does."""

    def __init__(self, warehouse: Any) -> None:
        self._warehouse = warehouse
        self._lock = threading.Lock()
        self.engine = warehouse.engine

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._warehouse, name)

        def serialized(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return serialized


def copy_that_waits_after_its_delete(copies_deleted: threading.Barrier):
    """The real Copy, except that once its pre-copy script has deleted the date's usage staging it waits (up to
    2 s) for another run's copy to have deleted too: the worst interleaving two overlapping runs can have
    (delete, delete, insert, insert). When the runs cannot overlap, nobody arrives and the copy goes on."""

    def run(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
        warehouse = ctx.resources.warehouse_for(ctx.factory, "LS_warehouse_sql")
        execute = warehouse.execute

        def execute_then_wait(tsql: str, params: Mapping[str, Any] | None = None) -> None:
            execute(tsql, params)
            if tsql.startswith(USAGE_DELETE):
                with contextlib.suppress(threading.BrokenBarrierError):
                    copies_deleted.wait(timeout=2)

        warehouse.execute = execute_then_wait
        try:
            return run_copy(activity, ctx)
        finally:
            warehouse.execute = execute

    return run


@pytest.fixture()
def night(azurite: Azurite, tmp_path) -> Iterator[LocalNight]:
    with UsageApiSimulator(SimulatorConfig(companies=COMPANIES, seed=SEED)) as simulator, SlackCatcher() as slack:
        duckdb = deployed_duckdb(tmp_path)
        local = LocalNight(azurite.connection_string, simulator, slack, SerializedWarehouse(duckdb), COMPANIES, SEED)
        try:
            yield local
        finally:
            local.close()
            duckdb.close()


def test_a_backfill_and_a_manual_run_for_the_same_date_do_not_double_staging(night: LocalNight) -> None:
    committed = night.ingest(DAY)
    night.upload_crm(DAY)
    night.executor.runners["Copy"] = copy_that_waits_after_its_delete(threading.Barrier(2))
    results: dict[str, PipelineRunResult] = {}
    both_started = threading.Barrier(2)

    def backfill() -> None:
        both_started.wait()
        results["backfill"] = night.executor.run("PL_backfill_company_activity", {
            "startDate": DAY.isoformat(), "endDate": DAY.isoformat(), **PARAMETERS})

    def manual() -> None:
        both_started.wait()
        results["manual"] = night.run(DAY)

    threads = [threading.Thread(target=backfill), threading.Thread(target=manual)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    [child] = night.executor.child_runs
    assert child.pipeline_name == PIPELINE
    first, second = sorted([child, results["manual"]], key=lambda r: r.queued_s)
    assert [m.text for m in night.slack.messages] == []  # no spurious alert
    assert [first.status, second.status] == [Status.SUCCEEDED, Status.SUCCEEDED], [first.message, second.message]
    assert results["backfill"].succeeded, results["backfill"].message
    assert first.queued_s == 0.0 < second.queued_s  # one of the two waited for the other to end
    staged = night.warehouse.query("SELECT COUNT(*) AS n FROM stg.product_usage_daily WHERE usage_date = @d",
                                   {"d": DAY})
    assert staged == [{"n": committed.record_count}]  # staged once, not twice
    for run in (first, second):
        assert [row["status"] for row in night.load_log(run.run_id)] == ["succeeded"]
    night.expect(DAY, first.run_id)
    night.expect(DAY, second.run_id)
    assert night.differences() == []
