"""Pipeline `concurrency` as Data Factory applies it: at most N runs of a pipeline at once, later runs queue.

"If the concurrency limit is reached, additional pipeline runs are queued until earlier ones complete"
("Pipelines and activities", Pipeline JSON), at most 100 queued runs ("Pipeline Concurrency"); the limits and the
reading of the JSON are pipeline.resources'. A queued run waits here, in the thread that started it, and starts
when a running one ends. Queued runs start in the order they arrived: ADF does not say which queued run starts
first, and nothing in the project depends on it. A run beyond the queue's limit is refused.

Written here rather than taken from a library: the rule is a counted slot per pipeline name with a bounded FIFO
queue, a few lines on `threading.Condition`; a semaphore alone has neither the order nor the queue limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from company_activity.errors import OperationalError
from company_activity_local.pipeline import resources


class PipelineQueueFull(OperationalError):
    """A run of a pipeline whose concurrency is reached found its queue full (100 runs); it never started."""


@dataclass
class _Pipeline:
    running: int = 0
    queue: deque[object] = field(default_factory=deque)


class RunAdmission:
    """The run slots of one factory's pipelines, shared by every run an executor starts (child runs included)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._pipelines: dict[str, _Pipeline] = {}

    @contextmanager
    def slot(self, pipeline: str, concurrency: int | None,
             on_queued: Callable[[int], None] | None = None) -> Iterator[float]:
        """Hold one of the pipeline's `concurrency` slots for the run (None: no limit); yields the seconds the
        run waited in the queue. `on_queued(runs_ahead)` is called once when the run has to queue."""
        if concurrency is None:
            yield 0.0
            return
        ticket, queued_at, waited = object(), time.monotonic(), 0.0
        with self._changed:
            state = self._pipelines.setdefault(pipeline, _Pipeline())
            if state.running >= concurrency or state.queue:
                if len(state.queue) >= resources.MAX_QUEUED_RUNS:
                    raise PipelineQueueFull(
                        f"pipeline {pipeline}: {state.running} run(s) running and {len(state.queue)} queued, the "
                        f"most Data Factory queues (concurrency {concurrency}); the run was not started")
                state.queue.append(ticket)
                if on_queued is not None:
                    on_queued(state.running + len(state.queue) - 1)
                while state.queue[0] is not ticket or state.running >= concurrency:
                    self._changed.wait()
                state.queue.popleft()
                waited = time.monotonic() - queued_at
            state.running += 1
        try:
            yield waited
        finally:
            with self._changed:
                state.running -= 1
                self._changed.notify_all()
