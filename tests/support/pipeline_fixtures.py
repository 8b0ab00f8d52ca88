"""Fixtures of the pipeline tests: synthetic factories, a Slack catcher, local resources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from company_activity.settings import Secret
from company_activity_local.pipeline.local_resources import LocalResources
from company_activity_local.pipeline.resources import Factory
from company_activity_local.services.slack_catcher import SlackCatcher
from company_activity_local.settings import LocalRunSettings


def factory_of(*pipelines: dict[str, Any], datasets: dict[str, Any] | None = None,
               linked_services: dict[str, Any] | None = None) -> Factory:
    """A Factory holding synthetic pipelines given as {"name": ..., "properties": {...}} dicts."""
    return Factory(
        name="test-factory",
        pipelines={p["name"]: p for p in pipelines},
        datasets=datasets or {},
        linked_services=linked_services or {},
        triggers={},
        factory={"name": "test-factory", "properties": {}},
    )


@pytest.fixture()
def slack() -> Iterator[SlackCatcher]:
    with SlackCatcher() as catcher:
        yield catcher


@pytest.fixture()
def offline_resources(slack: SlackCatcher) -> Iterator[LocalResources]:
    """Resources for pipelines that touch no blob or warehouse: only HTTP and the Key Vault stand-in."""
    settings = LocalRunSettings(blob_connection_string=Secret("UseDevelopmentStorage=true"),
                                slack_webhook_url=Secret(slack.url))
    with LocalResources(settings) as resources:
        yield resources
