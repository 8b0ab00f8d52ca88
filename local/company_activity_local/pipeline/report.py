"""How a local pipeline run is shown in a terminal.

By default a run shows one line per activity that ran (Skipped ones are left out: a successful run skips
its whole failure branch) and one summary line; `pipeline run --verbose` adds the Skipped activities and
a table of every activity. Lines are never wrapped (consoles are soft-wrapped); tables keep activity
names whole at 80 columns and cut outputs instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from company_activity_local.pipeline.results import ActivityResult, PipelineRunResult, Status

if TYPE_CHECKING:
    from company_activity_local.warehouse.engine import Warehouse

STYLE = {Status.SUCCEEDED: "green", Status.FAILED: "red", Status.SKIPPED: "dim"}
COPY_USAGE, COPY_CRM = "CopyUsageToStaging", "CopyCrmToStaging"


def summary(result: ActivityResult, limit: int = 100) -> str:
    """The short text of an activity: its error when it failed, else its output (secure output hidden)."""
    if result.error is not None:
        text = f"{result.error.error_code}: {result.error.message}".replace("\n", " ")
        return text if len(text) <= limit else text[: limit - 3] + "..."
    return result.display_output(limit)


def activity_line(result: ActivityResult, width: int | None = None) -> str:
    """Rich markup for one finished activity (the live log of a run). With `width`, the line fits it: the
    output or error is cut, and the activity type is left out when the name leaves too little room (the
    run's message after the run has a failure's error in full)."""
    indent = "  " if result.scope else ""
    timing = f"{result.duration_s:6.2f}s" if result.status is not Status.SKIPPED else "       "
    retries = f" ({result.attempts} attempts)" if result.attempts > 1 else ""
    kind = f" {result.type}{retries}"
    head = f"{indent}{result.status.value:<9} {timing} {result.name}"
    limit = 90
    if width is not None:
        if len(head) + len(kind) + 1 + 20 > width:
            kind = retries
        limit = width - len(head) - len(kind) - 1
    text = summary(result, limit) if limit >= 8 else ""
    style = STYLE[result.status]
    return (f"{indent}[{style}]{result.status.value:<9}[/] {timing} {escape(result.name)}"
            f"[dim]{escape(kind)}[/] {escape(text)}").rstrip()


def ran(result: ActivityResult) -> bool:
    return result.status is not Status.SKIPPED


def last_load_log(warehouse: Warehouse, run_id: str) -> dict[str, Any] | None:
    """The newest etl.load_log row the run's merge wrote (None when it did not get that far)."""
    rows = warehouse.query("SELECT status, rows_inserted, rows_updated, rows_deleted, message FROM etl.load_log "
                           "WHERE run_id = @run_id ORDER BY load_id DESC", {"run_id": run_id})
    return rows[0] if rows else None


def run_summary(result: PipelineRunResult, load_log: dict[str, Any] | None = None) -> str:
    """One line (rich markup) for a finished run: status, time, what it staged and what the merge changed."""
    style = STYLE[result.status]
    head = (f"[{style}]{result.status.value}[/] {escape(result.pipeline_name)} runDate "
            f"{escape(str(result.parameters.get('runDate', '')))} in {result.duration_s:.1f}s")
    copied = {a.name: a.output.get("rowsCopied") for a in result.activities
              if a.name in (COPY_USAGE, COPY_CRM) and a.status is Status.SUCCEEDED and isinstance(a.output, dict)}
    facts = []
    if COPY_USAGE in copied:
        facts.append(f"{copied[COPY_USAGE]} usage rows")
    if COPY_CRM in copied:
        facts.append(f"{copied[COPY_CRM]} CRM rows")
    what = f": staged {' and '.join(facts)}" if facts else ""
    if load_log is not None and str(load_log.get("status")) == "succeeded":
        what += (f"; fact rows inserted {load_log.get('rows_inserted')}, updated {load_log.get('rows_updated')}, "
                 f"deleted {load_log.get('rows_deleted')}")
    if result.status is Status.FAILED:
        failed = [a for a in result.activities if a.status is Status.FAILED and a.error is not None]
        if failed:
            what += f"; first failure: {escape(failed[0].name)}"
    return f"{head}{what} (run id {result.run_id})"


def run_table(result: PipelineRunResult, width: int = 120) -> Table:
    """One line per activity, names whole: outputs are cut to what is left of `width` (the live lines and the
    run's message below the table carry the errors in full), and the activity type shows from 120 columns."""
    table = Table(title=f"{result.pipeline_name} run {result.run_id}", title_justify="left", box=None,
                  pad_edge=False)
    widest = max((len(a.name) + (2 if a.scope else 0) for a in result.activities), default=8)
    # Fixed widths (rich would otherwise shrink the short columns to nothing): what is left is the output's.
    fixed = [("activity", widest, "left"), ("status", 9, "left"), ("s", 6, "right"), ("tries", 5, "right")]
    with_type = width >= 120
    if with_type:
        fixed.append(("type", 24, "left"))
    output_width = max(10, width - sum(w for _, w, _ in fixed) - 2 * len(fixed))
    for name, column_width, justify in fixed[:4]:
        table.add_column(name, width=column_width, no_wrap=True, justify=justify)  # type: ignore[arg-type]
    table.add_column("output / error", width=output_width, overflow="ellipsis",
                     no_wrap=True)
    if with_type:
        table.add_column("type", width=24, style="dim", overflow="ellipsis", no_wrap=True)
    for activity in result.activities:
        name = f"  {activity.name}" if activity.scope else activity.name
        skipped = activity.status is Status.SKIPPED
        cells = [
            escape(name),
            f"[{STYLE[activity.status]}]{activity.status.value}[/]",
            "" if skipped else f"{activity.duration_s:.2f}",
            "" if skipped else str(activity.attempts),
            escape(summary(activity, 60)),
        ]
        table.add_row(*cells, *([activity.type] if with_type else []))
    return table


def print_run(console: Console, result: PipelineRunResult, load_log: dict[str, Any] | None = None, *,
              verbose: bool = False) -> None:
    """The end of a run: with verbose the table of every activity; then the summary line and, when the run
    failed, its message (the failed activity and error, as the alert carries them)."""
    if verbose:
        console.print(run_table(result, console.width))
    console.print(run_summary(result, load_log))
    if result.message:
        console.print(f"[red]{escape(result.message)}[/]")
