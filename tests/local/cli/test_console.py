"""Log records during a live progress display go through its console (printed above the bar), and only
on a terminal: piped output keeps the plain one-line log handler."""

from __future__ import annotations

import io
import logging

from rich.console import Console
from rich.progress import Progress

from company_activity_local.cli.console import logs_through


def test_logs_print_through_the_live_console_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    root = logging.getLogger()
    before = root.handlers[:]
    with logs_through(console), Progress(console=console, transient=True) as progress:
        progress.add_task("backfill", total=1)
        logging.getLogger("company_activity.test").warning("retrying in 2s")
        assert [type(h).__name__ for h in root.handlers] == ["RichHandler"]
    assert root.handlers == before
    assert "company_activity.test: retrying in 2s" in out.getvalue()


def test_piped_output_keeps_the_plain_handlers() -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    root = logging.getLogger()
    before = root.handlers[:]
    with logs_through(console):
        assert root.handlers == before
