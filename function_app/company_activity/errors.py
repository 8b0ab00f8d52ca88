"""The project's one exception tree.

Every error the project raises on purpose derives from `CompanyActivityError`, through one of two
branches that tell a caller what to do, not which module raised:

- `InputError`: the input is wrong (a flag, a request body, a file, a setting). Fix it and retry.
  The CLI exits 2; an HTTP endpoint answers 4xx.
- `OperationalError`: the input was fine but something the job depends on failed (storage, the usage
  API, ARM, the warehouse). Retrying later may work. The CLI exits 1; an HTTP endpoint answers 5xx.

Anything else that escapes is a programming error and is reported as one at the outermost boundary.
"""

from __future__ import annotations


class CompanyActivityError(Exception):
    """Root of every error the project raises on purpose."""


class InputError(CompanyActivityError):
    """Bad input: a flag, a request, a file or a setting is wrong (CLI exit 2, HTTP 4xx)."""


class OperationalError(CompanyActivityError):
    """An operational failure: a dependency failed or a run could not complete (CLI exit 1, HTTP 5xx)."""
