"""Who is asking, as App Service built-in authentication (Easy Auth) says, and whether they may see the dashboard.

Easy Auth signs the user in before the request reaches the Functions host and passes the claims in
X-MS-CLIENT-PRINCIPAL (base64 JSON) and X-MS-CLIENT-PRINCIPAL-ID; the platform removes those headers from
incoming requests, so they are present only when it set them (docs/azure-fidelity.md). The platform
already refuses everyone outside the configured group or users (authsettingsV2 allowedPrincipals); the
function checks the same lists again, so that a site whose authentication was switched off or widened
serves nobody: no principal header -> 401, a principal outside the lists -> 403.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

from company_activity.settings import DashboardSettings

PRINCIPAL_HEADER = "x-ms-client-principal"
PRINCIPAL_ID_HEADER = "x-ms-client-principal-id"
GROUP_CLAIMS = ("groups", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups")


@dataclass(frozen=True)
class Principal:
    object_id: str
    groups: frozenset[str]


def principal_from_headers(headers: Mapping[str, str]) -> Principal | None:
    """The signed-in principal, or None when Easy Auth set no principal (not signed in, or not in front)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    object_id = (lowered.get(PRINCIPAL_ID_HEADER) or "").strip().lower()
    if not object_id:
        return None
    groups: set[str] = set()
    encoded = lowered.get(PRINCIPAL_HEADER) or ""
    if encoded:
        try:
            claims = json.loads(base64.b64decode(encoded, validate=False)).get("claims") or []
        except (binascii.Error, ValueError, AttributeError):
            claims = []
        for claim in claims if isinstance(claims, list) else []:
            if isinstance(claim, dict) and claim.get("typ") in GROUP_CLAIMS:
                groups.add(str(claim.get("val", "")).lower())
    return Principal(object_id, frozenset(groups))


def may_view(principal: Principal, settings: DashboardSettings) -> bool:
    return principal.object_id in settings.allowed_users or bool(principal.groups & settings.allowed_groups)
