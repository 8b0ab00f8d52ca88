"""A local stand-in of the Microsoft Entra token issuer for the HTTP endpoints' tests.

A real HTTP server on loopback publishes a JWKS at the v2 discovery path
(`{authority}/{tenant}/discovery/v2.0/keys`), and `token()` signs access tokens with its RSA key (RS256) in
the v2 shape the app expects (iss, aud, tid, oid, roles, exp/nbf/iat). Only the issuing side is a stand-in:
the app verifies the tokens with PyJWT exactly as in Azure.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

TENANT = "7d0c8d3e-1c4b-4e7a-9c4f-2b1a0e9d8c7b"
API_CLIENT_ID = "5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f"
OPERATOR = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
KID = "test-key-1"


@dataclass
class EntraStandIn:
    key: Any = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    requests: int = 0

    def __post_init__(self) -> None:
        stand_in = self
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=KID, use="sig", alg="RS256")
        body = json.dumps({"keys": [jwk]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stand_in.requests += 1
                found = self.path == f"/{TENANT}/discovery/v2.0/keys"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits up to one poll interval: 0.5 s by default, paid by every test that starts a stand-in.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def authority(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def settings(self) -> dict[str, str]:
        return {"AUTH_TENANT_ID": TENANT, "AUTH_API_CLIENT_ID": API_CLIENT_ID, "AUTH_AUTHORITY": self.authority}

    def claims(self, *roles: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": f"{self.authority}/{TENANT}/v2.0", "aud": API_CLIENT_ID, "tid": TENANT, "oid": OPERATOR,
                "preferred_username": "operator@example.com", "roles": list(roles), "iat": now - 5,
                "nbf": now - 5, "exp": now + 600, "ver": "2.0", **overrides}

    def token(self, *roles: str, key: Any = "", algorithm: str = "RS256", **overrides: Any) -> str:
        """A token signed with the stand-in's key (or `key`; None for an unsigned `alg: none` token)."""
        return jwt.encode(self.claims(*roles, **overrides), self.key if key == "" else key, algorithm=algorithm,
                          headers={"kid": KID})

    def header(self, *roles: str, **overrides: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*roles, **overrides)}"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
