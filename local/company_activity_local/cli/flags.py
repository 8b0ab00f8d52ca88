"""Flag value types shared by the commands."""

from __future__ import annotations

import argparse


def seconds(text: str) -> float:
    """A number of seconds, at least 0 (argparse names the flag in its error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value
