"""How a local pipeline run is shown in a terminal: one line per finished activity, then a table."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from company_activity_local.pipeline.results import ActivityResult, PipelineRunResult, Status

STYLE = {Status.SUCCEEDED: "green", Status.FAILED: "red", Status.SKIPPED: "dim"}


def summary(result: ActivityResult, limit: int = 100) -> str:
    """The short text of an activity: its error when it failed, else its output (secure output hidden)."""
    if result.error is not None:
        text = f"{result.error.error_code}: {result.error.message}"
        return text if len(text) <= limit else text[: limit - 3] + "..."
    return result.display_output(limit)


def activity_line(result: ActivityResult) -> str:
    """Rich markup for one finished activity (the live log of a run)."""
    indent = "  " if result.scope else ""
    style = STYLE[result.status]
    timing = f"{result.duration_s:6.2f}s" if result.status is not Status.SKIPPED else "       "
    retries = f" ({result.attempts} attempts)" if result.attempts > 1 else ""
    return (f"{indent}[{style}]{result.status.value:<9}[/] {timing} {escape(result.name)} "
            f"[dim]{escape(result.type)}{retries}[/] {escape(summary(result, 90))}")


def run_table(result: PipelineRunResult) -> Table:
    """One line per activity: outputs are cut to the column (the live lines and the run's message below the
    table carry the errors in full), so a JSON output never folds into dozens of lines."""
    table = Table(title=f"{result.pipeline_name} run {result.run_id}", title_justify="left")
    for column, kwargs in (("activity", {}), ("type", {"style": "dim"}), ("status", {}),
                           ("seconds", {"justify": "right"}), ("tries", {"justify": "right"}),
                           ("output / error", {"overflow": "ellipsis", "max_width": 40})):
        table.add_column(column, **kwargs)
    for activity in result.activities:
        name = f"  {activity.name}" if activity.scope else activity.name
        skipped = activity.status is Status.SKIPPED
        table.add_row(
            escape(name),
            activity.type,
            f"[{STYLE[activity.status]}]{activity.status.value}[/]",
            "" if skipped else f"{activity.duration_s:.2f}",
            "" if skipped else str(activity.attempts),
            escape(summary(activity, 60)),
        )
    return table


def print_run(console: Console, result: PipelineRunResult) -> None:
    console.print(run_table(result))
    style = STYLE[result.status]
    console.print(f"[{style}]{result.status.value}[/] in {result.duration_s:.1f}s "
                  f"(runDate {escape(str(result.parameters.get('runDate', '')))}, run id {result.run_id})")
    if result.message:
        console.print(f"[red]{escape(result.message)}[/]")
