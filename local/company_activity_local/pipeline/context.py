"""What an activity runner sees: the run's state, its evaluated properties, a deadline and child scopes.

Kept apart from the executor so that the activity runners (pipeline/activities/) depend on this
interface only, and the executor depends on the runners: no import circle. The executor is reached
through the `ExecutorHandle` Protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from company_activity_local.pipeline import resources
from company_activity_local.pipeline.resources import Factory
from company_activity_local.pipeline.results import (
    ActivityFailed,
    ActivityResult,
    ActivityTimedOut,
    PipelineRunResult,
    Status,
    UnsupportedFeature,
)

if TYPE_CHECKING:
    import requests
    from azure.storage.blob import ContainerClient

    from company_activity_local.warehouse.engine import Warehouse

_NO_ITEM = object()

ActivityRunner = Callable[[Mapping[str, Any], "ActivityContext"], Any]
Listener = Callable[[ActivityResult], None]


@dataclass(frozen=True)
class WaitEvent:
    """The run is about to wait: `kind` "retry" (policy.retry after a failed attempt), "poll" (an activity
    polling, e.g. Validation) or "queued" (the run waits for a slot of its pipeline's concurrency; `activity` is then
    the pipeline, `seconds` 0: it waits until an earlier run ends); `seconds` how long this wait is; `detail` what
    is awaited or what failed."""

    kind: str
    activity: str
    seconds: float
    detail: str


WaitListener = Callable[[WaitEvent], None]


@dataclass
class ScopeOutcome:
    status: Status
    results: list[ActivityResult]
    failed: list[ActivityResult]  # the activities of the scope that failed, when the scope failed

    def message(self) -> str:
        return "; ".join(
            f"activity '{r.name}' failed: {r.error.message if r.error else 'no error message'}" for r in self.failed
        )


class RunResources(Protocol):
    """What activities reach through `ctx.resources`: the stand-ins of the factory's linked services.
    `LocalResources` in a run; a test may pass any object with these members."""

    @property
    def http(self) -> requests.Session: ...

    def container(self, factory: Factory, linked_service: str, container: str) -> ContainerClient: ...

    def warehouse_for(self, factory: Factory, linked_service: str) -> Warehouse: ...

    def slack_webhook_url(self, secret_name: str) -> str: ...


@dataclass(kw_only=True)
class RunState:
    """Everything expressions can see during one pipeline run."""

    factory: Factory
    pipeline_name: str
    run_id: str
    parameters: dict[str, Any]
    trigger: dict[str, Any]
    resources: RunResources | None  # None: an executor that only checks definitions
    results: dict[str, ActivityResult] = field(default_factory=dict)
    all_results: list[ActivityResult] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    global_parameters: dict[str, Any] = field(default_factory=dict)
    item: Any = _NO_ITEM


class ActivityContext:
    """What an activity runner gets: its evaluated properties, resources, a deadline and child scopes."""

    def __init__(self, executor: ExecutorHandle, state: RunState, activity: Mapping[str, Any],
                 deadline: float, scope: str) -> None:
        self.executor = executor
        self.state = state
        self.activity = activity
        self.name = str(activity["name"])
        self.type = str(activity["type"])
        self.deadline = deadline
        self.scope = scope

    @property
    def resources(self) -> RunResources:
        if self.state.resources is None:
            raise ActivityFailed(f"activity {self.name!r} needs local resources; this executor was built without "
                                 "them", "NoLocalResources", retryable=False)
        return self.state.resources

    @property
    def factory(self) -> Factory:
        return self.state.factory

    @property
    def type_properties(self) -> Mapping[str, Any]:
        return self.activity.get("typeProperties") or {}

    # -- expressions ----------------------------------------------------------------------------------
    def evaluate(self, value: Any, what: str, *, dataset_parameters: Mapping[str, Any] | None = None) -> Any:
        """Evaluate one property value (literal, `@...` string or `{"type": "Expression"}` object)."""
        return self.executor.evaluate(self.state, value, f"{self.name}.{what}", dataset_parameters=dataset_parameters)

    def prop(self, key: str, default: Any = None) -> Any:
        """typeProperties[key], evaluated; `default` when absent."""
        if key not in self.type_properties:
            return default
        return self.evaluate(self.type_properties[key], f"typeProperties.{key}")

    def reject_unknown(self, mapping: Mapping[str, Any], known: Iterable[str], where: str) -> None:
        """Fail on a property this executor does not implement instead of silently ignoring it."""
        unknown = sorted(set(mapping) - set(known))
        if unknown:
            raise UnsupportedFeature(
                f"{self.type} activity '{self.name}': {where} has properties the local executor does not "
                f"implement: {unknown}"
            )

    # -- time -----------------------------------------------------------------------------------------
    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check_deadline(self) -> None:
        if time.monotonic() >= self.deadline:
            raise ActivityTimedOut(f"activity '{self.name}' timed out (policy.timeout)")

    def report_wait(self, kind: str, seconds: float, detail: str) -> None:
        """Tell the executor's wait listener (the CLI prints it) that this activity is about to wait."""
        if self.executor.wait_listener is not None:
            self.executor.wait_listener(WaitEvent(kind, self.name, seconds, detail))

    def sleep(self, seconds: float) -> None:
        """Sleep, but never past the activity's deadline (then fail as timed out)."""
        if seconds >= self.remaining():
            time.sleep(max(0.0, self.remaining()))
            self.check_deadline()
        time.sleep(max(0.0, seconds))

    # -- child scopes ---------------------------------------------------------------------------------
    def run_scope(self, activities: list[Mapping[str, Any]], *, item: Any = _NO_ITEM) -> ScopeOutcome:
        return self.executor.run_scope(self.state, activities, scope=self.name, item=item)


class ExecutorHandle(Protocol):
    """The part of PipelineExecutor that activity runners use."""

    wait_listener: WaitListener | None
    child_runs: list[PipelineRunResult]

    def evaluate(self, state: RunState, value: Any, what: str, *,
                 dataset_parameters: Mapping[str, Any] | None = None) -> Any: ...

    def run_scope(self, state: RunState, activities: list[Mapping[str, Any]], *, scope: str,
                  item: Any = ...) -> ScopeOutcome: ...

    def run(self, pipeline_name: str, parameters: Mapping[str, Any] | None = None, *, run_id: str | None = None,
            trigger: Mapping[str, Any] | None = None) -> PipelineRunResult: ...


def timespan_seconds(value: Any, what: str) -> float:
    """Seconds of a TimeSpan property (`0.00:05:00`); a bad one fails the activity naming the property."""
    try:
        return resources.parse_timespan(value, what).total_seconds()
    except resources.ResourceError as exc:
        raise ActivityFailed(str(exc), "InvalidTimeSpan", retryable=False) from None
