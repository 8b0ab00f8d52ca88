"""The demo's errors."""

from __future__ import annotations

from company_activity.errors import InputError, OperationalError


class DemoOptionsError(InputError):
    """A demo option is out of range; the message names its flag."""


class DemoFailed(OperationalError):
    """A step of the demo's night did not do what the rest of the night needs (a day not committed)."""
