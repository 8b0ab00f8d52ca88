"""Who calls the HTTP endpoints: a Microsoft Entra access token, verified here, and the app roles it carries.

Every HTTP endpoint needs `Authorization: Bearer <access token>` issued by the tenant AUTH_TENANT_ID for the
API registered as AUTH_API_CLIENT_ID (docs/security.md). The token is verified in the app: RS256 signature
against the tenant's published keys, issuer, audience, tenant, expiry and not-before (one minute of clock
leeway). App Service built-in authentication runs in front of the app as well (infra/modules/function-app.bicep),
but the app does not rely on it: Microsoft documented it as not enforced on Flex Consumption during the
preview, and the X-MS-CLIENT-PRINCIPAL header it adds is unsigned, so reading it would trust whoever can reach
the app. Access is by app role (the token's `roles` claim), see ROLES.

PyJWT verifies the token and fetches the signing keys (cached per process); nothing here parses JWTs by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import jwt

from company_activity.errors import InputError, OperationalError

ROLE_READ = "CompanyActivity.Read"
ROLE_BACKFILL = "CompanyActivity.Backfill"
ROLE_FORCE = "CompanyActivity.ForceReingest"
ROLES = {
    ROLE_READ: "GET /api/ingestions and GET /api/backfill/{run id}",
    ROLE_BACKFILL: "POST /api/backfill (dates not committed yet)",
    ROLE_FORCE: "POST /api/backfill with force or allow_fewer_records (re-ingest committed days)",
}
CLOCK_LEEWAY_S = 60
JWKS_CACHE_S = 3600
_BEARER = re.compile(r"Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)")


class NotAuthenticated(InputError):
    """No valid token; the message says why, for the log only (the caller gets a generic 401)."""


class KeysUnavailable(OperationalError):
    """The tenant's signing keys could not be fetched, so no token can be verified now (503)."""


@dataclass(frozen=True)
class Caller:
    object_id: str
    name: str
    roles: frozenset[str]

    def may(self, role: str) -> bool:
        return role in self.roles


class TokenVerifier:
    """Verifies access tokens for one API (audience) in one tenant."""

    def __init__(self, tenant_id: str, audience: str, authority: str, *, timeout_s: int = 10) -> None:
        base = authority.rstrip("/")
        self.tenant_id = tenant_id
        self.audience = audience
        self.issuer = f"{base}/{tenant_id}/v2.0"
        self.keys = jwt.PyJWKClient(f"{base}/{tenant_id}/discovery/v2.0/keys", cache_keys=True,
                                    lifespan=JWKS_CACHE_S, timeout=timeout_s)

    def caller(self, authorization: str | None) -> Caller:
        match = _BEARER.fullmatch((authorization or "").strip())
        if match is None:
            raise NotAuthenticated("no Authorization: Bearer <token> header")
        token = match.group(1)
        try:
            key = self.keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise KeysUnavailable(f"signing keys unavailable: {exc}") from None
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"token refused: {type(exc).__name__}: {exc}") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], audience=self.audience, issuer=self.issuer,
                leeway=CLOCK_LEEWAY_S, options={"require": ["exp", "nbf", "iat", "iss", "aud", "tid", "oid"]})
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"token refused: {type(exc).__name__}: {exc}") from None
        if claims.get("tid") != self.tenant_id:
            raise NotAuthenticated("token refused: tid is not the configured tenant")
        roles = claims.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise NotAuthenticated("token refused: roles claim is not a list of strings")
        name = claims.get("preferred_username") or claims.get("azp") or claims.get("appid") or ""
        return Caller(str(claims["oid"]), str(name)[:120], frozenset(roles))
