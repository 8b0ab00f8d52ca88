"""The HTTP endpoints against a hostile caller (issue 22): identifiers and errors at the edge.

In-process handlers against Azurite, the simulator and the ARM stand-in on loopback, as in
tests/app/orchestration/test_backfill_load.py, whose fixtures these tests share.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.app.functions.test_functions import app_env, body_of, handlers  # noqa: F401 (fixtures)
from tests.app.orchestration.test_backfill_load import arm, get_backfill  # noqa: F401 (fixtures)
from tests.support.arm_standin import ArmStandIn, RecordingCredential

GUID = str(uuid.UUID(int=7))


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "%0A", " ", "\x00"])
def test_a_run_id_with_anything_after_the_guid_is_refused_before_arm_is_called(
    handlers: dict[str, Callable[..., Any]], arm: tuple[ArmStandIn, RecordingCredential], suffix: str,  # noqa: F811
) -> None:
    stand_in, _ = arm
    response = get_backfill(handlers, GUID + suffix)
    assert response.status_code == 400
    assert body_of(response)["errors"][0]["field"] == "run_id"
    assert stand_in.requests == []
