"""Usage-API simulator fixtures: one fault-free simulator per session, and a factory for faulty ones.

The session simulator's request counters are shared by every test that uses it: tests that count
requests or inject faults take their own simulator from `usage_api_factory`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from company_activity.ingest.usage_api import RetryPolicy
from company_activity_local.services.simulator import DEFAULT_API_KEY, SimulatorConfig, UsageApiSimulator
from tests.support.entra_standin import EntraStandIn

SESSION_COMPANIES = 2500
SESSION_SEED = 20240501


@pytest.fixture(scope="session")
def usage_api() -> Iterator[UsageApiSimulator]:
    """A fault-free simulator: `.base_url`, `.api_key`, `.config.companies`, `.config.seed`."""
    with UsageApiSimulator(SimulatorConfig(companies=SESSION_COMPANIES, seed=SESSION_SEED)) as simulator:
        yield simulator


@pytest.fixture()
def usage_api_factory() -> Iterator[Callable[..., UsageApiSimulator]]:
    """`make(faults="503@1,...", companies=300, seed=7, api_key=...)` -> a started simulator, stopped after the test."""
    started: list[UsageApiSimulator] = []

    def make(
        faults: str = "", *, companies: int = 300, seed: int = 7, api_key: str = DEFAULT_API_KEY
    ) -> UsageApiSimulator:
        config = SimulatorConfig.parse(faults=faults, companies=companies, seed=seed, api_key=api_key)
        simulator = UsageApiSimulator(config).start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture()
def fast_retry() -> RetryPolicy:
    """Tiny backoff so retry tests take milliseconds; Retry-After is still honoured as sent."""
    return RetryPolicy(max_attempts=6, max_total_s=30.0, backoff_initial_s=0.001, backoff_max_s=0.01,
                       max_retry_after_s=5.0)


class SleepRecorder:
    """A `sleep` for UsageApiClient that records each requested wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture()
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture(scope="session")
def entra() -> Iterator[EntraStandIn]:
    """The local token issuer: `.settings()` for AUTH_*, `.header(*roles)` for an Authorization header."""
    stand_in = EntraStandIn()
    yield stand_in
    stand_in.close()
