"""Fixtures for the whole suite live in tests/support and are registered here, once.

Markers (registered in pyproject.toml) are also set here from what a test uses, so the fast tier
(`make check`) can leave out every test that needs a real service without each test saying so.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings as hypothesis_settings

# Tests never assert wall-clock time: Hypothesis's 200 ms per-example deadline fails property tests on a
# loaded 2-core machine (seen in make test), so the suite runs without it.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")

# xdist's workers already use every core: a DuckDB thread pool per warehouse only adds contention (about 20%
# of the SQL tests' CPU). Subprocesses inherit it; the doc workflows run without it (DuckDB's default), as a reader
# would. A developer's own value wins.
os.environ.setdefault("DUCKDB_THREADS", "1")

pytest_plugins = [
    "tests.support.storage_fixtures",
    "tests.support.adf_fixtures",
    "tests.support.pipeline_fixtures",
    "tests.support.dashboard_fixtures",
    "tests.support.ingest_fixtures",
    "tests.support.functions_fixtures",
    "tests.support.warehouse_fixtures",
    "tests.support.staging_fixtures",
]

# A test that uses one of these fixtures (directly or through another fixture) talks to a process the
# suite starts: Azurite, the usage-API simulator, the Slack catcher.
SERVICE_FIXTURES = frozenset({"azurite", "usage_api", "usage_api_factory", "slack", "entra"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)
    # Long tests first (stable: each module keeps its order), so that xdist's workers end on short ones
    # instead of one worker finishing a long test while the other waits (docs/benchmarks.md, "The test suite").
    items.sort(key=lambda item: 0 if _long(item) else 1)


def _long(item: pytest.Item) -> bool:
    return any(item.iter_markers(name) for name in ("slow", "docs", "browser", "xdist_group"))


@pytest.fixture(autouse=True)
def _no_developer_local_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The CLI reads function_app/local.settings.json; a developer's copy must not leak into the tests."""
    import company_activity.settings as settings

    monkeypatch.setattr(settings, "LOCAL_SETTINGS_FILE", tmp_path_factory.getbasetemp() / "no-local.settings.json")
    # Nor a shell's LOCAL_OUT_DIR (docs/local.md's workflows export one): the default folder is `out`.
    monkeypatch.delenv("LOCAL_OUT_DIR", raising=False)
