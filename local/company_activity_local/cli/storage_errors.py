"""How the commands that read or write blobs report a storage error: its first line, and for a connection
that failed (nothing listens there: Azurite not started, a wrong port) what to do about it."""

from __future__ import annotations

from azure.core.exceptions import ServiceRequestError

SERVICES_UP_HINT = ("nothing answered at the storage endpoint: is Azurite running? `company-activity services up` "
                    "starts it (and prints the settings to export); otherwise check STORAGE_CONNECTION_STRING / "
                    "LOCAL_BLOB_CONNECTION_STRING")


def storage_failure(exc: Exception) -> str:
    """An Azure SDK error's first line (the rest is the HTTP exchange), or its type when it has no text; for a
    connection that could not be made, followed by SERVICES_UP_HINT."""
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"{first} ({SERVICES_UP_HINT})" if isinstance(exc, ServiceRequestError) else first
