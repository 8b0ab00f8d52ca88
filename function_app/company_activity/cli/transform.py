"""Subcommands of `company-activity` for this stage (registered by company_activity.cli)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands; each sets `handler` to a function(args) -> exit code."""
