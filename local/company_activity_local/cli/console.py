"""The rich consoles every subcommand prints to.

Messages are never wrapped at the terminal width (80 columns when output is piped): a long path, run
id or error stays on one line, so it can be grepped and copied. Tables still fit the width.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.logging import RichHandler


def make_console(*, stderr: bool = False) -> Console:
    return Console(stderr=stderr, soft_wrap=True, highlight=False)


@contextmanager
def logs_through(console: Console) -> Iterator[None]:
    """Route log records through `console` for the block, so they print above its live progress bar or
    spinner instead of through it (a plain stderr handler would write into the bar's line). Only on a
    terminal: elsewhere nothing is live, and the plain handler keeps each record on one greppable line."""
    if not console.is_terminal:
        yield
        return
    root = logging.getLogger()
    previous = root.handlers[:]
    handler = RichHandler(console=console, show_path=False, show_time=False, markup=False, rich_tracebacks=False)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = previous
