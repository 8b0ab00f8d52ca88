"""What a local pipeline run produces: activity and run outcomes, and the errors activities fail with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from company_activity.errors import InputError, OperationalError


class Status(StrEnum):
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"


class ActivityFailed(OperationalError):
    """An activity failed; `message` and `error_code` become its ADF-shaped `error`."""

    def __init__(self, message: str, error_code: str = "LocalActivityError", *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.retryable = retryable


class UnsupportedFeature(ActivityFailed):
    """The JSON uses an activity type, property or value this executor does not implement."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "LocalExecutorUnsupported", retryable=False)


class ActivityTimedOut(ActivityFailed):
    def __init__(self, message: str) -> None:
        super().__init__(message, "ActivityTimeout")


class PipelineDefinitionError(InputError):
    """The pipeline JSON cannot be run at all (unknown pipeline, parameter, dependency, activity type)."""


@dataclass(frozen=True)
class ActivityError:
    message: str
    error_code: str
    target: str
    failure_type: str = "UserError"

    def as_adf(self) -> dict[str, Any]:
        """The shape of `@activity('X').error` in ADF."""
        return {
            "errorCode": self.error_code,
            "message": self.message,
            "failureType": self.failure_type,
            "target": self.target,
            "details": "",
        }


@dataclass(kw_only=True)
class ActivityResult:
    name: str
    type: str
    status: Status
    started_at: datetime | None = None
    duration_s: float = 0.0
    # Outputs may hold secrets (a Key Vault answer): never part of repr; print with `display_output`.
    output: Any = field(default=None, repr=False)
    error: ActivityError | None = None
    attempts: int = 0
    secure_output: bool = False
    scope: str = ""  # the enclosing control activity ("" at pipeline level)

    def display_output(self, limit: int = 160) -> str:
        if self.status is Status.SKIPPED or self.output is None:
            return ""
        if self.secure_output:
            return "(secure output hidden)"
        text = json.dumps(self.output, default=str, ensure_ascii=False, separators=(",", ":"))
        return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(kw_only=True)
class PipelineRunResult:
    pipeline_name: str
    run_id: str
    status: Status
    parameters: dict[str, Any] = field(repr=False)
    activities: list[ActivityResult]
    started_at: datetime
    duration_s: float
    message: str = ""
    queued_s: float = 0.0  # time the run waited for a slot of the pipeline's concurrency

    @property
    def succeeded(self) -> bool:
        return self.status is Status.SUCCEEDED

    def activity(self, name: str) -> ActivityResult:
        for result in self.activities:
            if result.name == name:
                return result
        raise KeyError(f"no activity {name!r} in run {self.run_id} (ran: {[a.name for a in self.activities]})")

    def statuses(self) -> dict[str, Status]:
        return {a.name: a.status for a in self.activities}
