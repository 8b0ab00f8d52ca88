"""The errors the CLI's own argument handling raises (the rest come from the modules a command calls)."""

from __future__ import annotations

from company_activity.errors import InputError


class UsageError(InputError):
    """A flag or its value is wrong."""
