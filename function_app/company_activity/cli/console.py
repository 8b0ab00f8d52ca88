"""The rich consoles every subcommand prints to.

Messages are never wrapped at the terminal width (80 columns when output is piped): a long path, run
id or error stays on one line, so it can be grepped and copied. Tables still fit the width.
"""

from __future__ import annotations

from rich.console import Console


def make_console(*, stderr: bool = False) -> Console:
    return Console(stderr=stderr, soft_wrap=True, highlight=False)
