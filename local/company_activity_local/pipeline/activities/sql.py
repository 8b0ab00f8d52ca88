"""SqlServerStoredProcedure: call a procedure of the warehouse with typed parameters."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from company_activity_local.pipeline.context import ActivityContext
from company_activity_local.pipeline.resources import STORED_PROCEDURE_PARAMETER_TYPES as DOCUMENTED_TYPES
from company_activity_local.pipeline.results import ActivityFailed, UnsupportedFeature

_INTS = {"Int16": 2**15, "Int": 2**31, "Int32": 2**31, "Int64": 2**63}


def run_stored_procedure(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, ("storedProcedureName", "storedProcedureParameters"), "typeProperties")
    linked = (activity.get("linkedServiceName") or {}).get("referenceName")
    if not linked:
        raise ActivityFailed(f"SqlServerStoredProcedure '{ctx.name}' has no linkedServiceName", retryable=False)
    warehouse = ctx.resources.warehouse_for(ctx.factory, str(linked))
    name = str(ctx.prop("storedProcedureName") or "").strip()
    if not name:
        raise ActivityFailed(f"SqlServerStoredProcedure '{ctx.name}': storedProcedureName is empty", retryable=False)
    params: dict[str, Any] = {}
    for pname, spec in (ctx.type_properties.get("storedProcedureParameters") or {}).items():
        if not isinstance(spec, Mapping):
            raise ActivityFailed(f"'{ctx.name}': parameter {pname!r} must be an object with value and type",
                                 retryable=False)
        value = ctx.evaluate(spec.get("value"), f"storedProcedureParameters.{pname}.value")
        kind = str(spec.get("type", "String"))
        if kind not in DOCUMENTED_TYPES:
            raise UnsupportedFeature(
                f"'{ctx.name}': parameter {pname!r} has type {kind!r}; only the documented types "
                f"{', '.join(DOCUMENTED_TYPES)} are accepted (pass other values as String)")
        params[pname.lstrip("@")] = typed_parameter(ctx.name, pname, kind, value)
    started = time.monotonic()
    ctx.check_deadline()
    from company_activity_local.warehouse.engine import TranslationError, WarehouseError

    try:
        warehouse.call_procedure(name.replace("[", "").replace("]", ""), params)
    except (WarehouseError, TranslationError) as exc:
        raise ActivityFailed(f"procedure {name} failed: {exc}", "SqlErrorNumber") from None
    return {"executionDuration": round(time.monotonic() - started, 3), "effectiveIntegrationRuntime": "LocalExecutor"}


def typed_parameter(activity: str, name: str, kind: str, value: Any) -> Any:
    """The Python value of a stored procedure parameter of ADF type `kind`."""
    if value is None:
        return None
    try:
        if kind in ("String", "Guid"):
            return value if isinstance(value, str) else str(value)
        if kind in _INTS:
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ValueError("not an integer")
            number = int(value)
            if not -_INTS[kind] <= number < _INTS[kind]:
                raise ValueError(f"out of range for {kind}")
            return number
        if kind in ("Double", "Single"):
            if isinstance(value, bool):
                raise ValueError("not a number")
            return float(value)
        if kind == "Decimal":
            return Decimal(str(value))
        if kind == "Boolean":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
            raise ValueError("not true/false")
        if kind in ("Date", "DateTime"):
            if isinstance(value, datetime | date):
                return value
            text = str(value).strip()
            if len(text) == 10:
                return date.fromisoformat(text)
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.utcoffset():
                raise ValueError("only UTC (or no offset) is supported")
            parsed = parsed.replace(tzinfo=None)
            return parsed.date() if parsed.time() == datetime.min.time() else parsed
    except (ValueError, InvalidOperation) as exc:
        raise ActivityFailed(f"'{activity}': parameter {name!r} ({kind}) = {value!r}: {exc}",
                             "InvalidParameter", retryable=False) from None
    raise UnsupportedFeature(f"'{activity}': parameter {name!r} has type {kind!r} (supported: String, Int16, Int32, "
                             "Int64, Double, Single, Decimal, Boolean, DateTime)")
