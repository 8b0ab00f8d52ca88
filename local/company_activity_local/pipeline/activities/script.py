"""Script: run blocks of T-SQL against the warehouse of the activity's SQL linked service.

"Transform data by using the Script activity" documents `scripts` as blocks of `text` with `type`
Query (the default: its rows become `resultSets`) or NonQuery (DML/DDL; ADF adds `recordsAffected`).
Only inline blocks without parameters run locally; `scriptReference`, `logSettings` and script
parameters fail the activity instead of being ignored. `recordsAffected` is not reported (the local
warehouse does not return it), so an expression that reads it fails instead of reading a made-up count.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from company_activity_local.pipeline.context import ActivityContext
from company_activity_local.pipeline.results import ActivityFailed, UnsupportedFeature

_KEYS = ("scripts", "scriptBlockExecutionTimeout", "scriptReference", "logSettings")
_BLOCK_KEYS = ("text", "type", "parameters")
_BLOCK_TYPES = ("Query", "NonQuery")


def run_script(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, _KEYS, "typeProperties")
    for unsupported in ("scriptReference", "logSettings"):
        if ctx.type_properties.get(unsupported):
            raise UnsupportedFeature(f"Script '{ctx.name}': {unsupported} is not implemented locally")
    linked = (activity.get("linkedServiceName") or {}).get("referenceName")
    if not linked:
        raise ActivityFailed(f"Script '{ctx.name}' has no linkedServiceName", retryable=False)
    blocks = ctx.type_properties.get("scripts") or []
    if not isinstance(blocks, list) or not blocks:
        raise ActivityFailed(f"Script '{ctx.name}': scripts must be a non-empty array of script blocks",
                             retryable=False)
    warehouse = ctx.resources.warehouse_for(ctx.factory, str(linked))
    from company_activity_local.warehouse.engine import TranslationError, WarehouseError

    result_sets: list[dict[str, Any]] = []
    started = time.monotonic()
    for index, block in enumerate(blocks):
        where = f"scripts[{index}]"
        if not isinstance(block, Mapping):
            raise ActivityFailed(f"Script '{ctx.name}': {where} must be an object", retryable=False)
        ctx.reject_unknown(block, _BLOCK_KEYS, where)
        if block.get("parameters"):
            raise UnsupportedFeature(f"Script '{ctx.name}': {where}.parameters are not implemented locally")
        kind = ctx.evaluate(block.get("type", "Query"), f"{where}.type")
        if kind not in _BLOCK_TYPES:
            raise ActivityFailed(f"Script '{ctx.name}': {where}.type must be one of {list(_BLOCK_TYPES)}, got {kind!r}",
                                 retryable=False)
        text = ctx.evaluate(block.get("text"), f"{where}.text")
        if not isinstance(text, str) or not text.strip():
            raise ActivityFailed(f"Script '{ctx.name}': {where}.text must evaluate to SQL text, got {text!r}",
                                 retryable=False)
        ctx.check_deadline()
        try:
            if kind == "NonQuery":
                warehouse.execute(text)
            else:
                rows = [dict(row) for row in warehouse.query(text)]
                result_sets.append({"rowCount": len(rows), "rows": rows})
        except (WarehouseError, TranslationError) as exc:
            raise ActivityFailed(f"Script '{ctx.name}' {where} failed: {exc}", "SqlErrorNumber") from None
    return {"resultSetCount": len(result_sets), "resultSets": result_sets,
            "executionDuration": round(time.monotonic() - started, 3)}
