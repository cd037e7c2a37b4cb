"""Tokens: the managed-identity endpoint az logs in with, and checking the bearer tokens ARM receives.

Tokens are JWTs signed with the sandbox's own HMAC key, so a token from anywhere else is refused.
az reads their claims without verifying them (it needs `tid`), as it does with Azure AD's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from pysteps.sandbox.arm.web import ArmError, Request, Response

TOKEN_LIFETIME = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Identity:
    def __init__(self, key: str, tenant: str, subscription: str, client_id: str, identity_header: str):
        self.key = key.encode()
        self.tenant = tenant
        self.subscription = subscription
        self.client_id = client_id
        self.identity_header = identity_header

    def mint(self, resource: str, principal: str | None = None) -> str:
        now = int(time.time())
        claims = {
            "aud": resource, "iss": f"https://sts.windows.net/{self.tenant}/", "iat": now, "nbf": now,
            "exp": now + TOKEN_LIFETIME, "tid": self.tenant, "oid": principal or self.client_id,
            "sub": principal or self.client_id, "appid": self.client_id, "idtyp": "app",
        }
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        signature = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{signature}"

    def verify(self, token: str) -> dict:
        """The claims of a token this sandbox minted and that has not expired; else raises 401."""
        try:
            head, body, signature = token.split(".")
            expected = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
            claims = json.loads(_unb64(body))
        except (ValueError, json.JSONDecodeError):
            raise unauthorized("InvalidAuthenticationToken", "The access token is invalid.") from None
        if not hmac.compare_digest(signature, expected):
            raise unauthorized("InvalidAuthenticationToken", "The access token signature is invalid.")
        if claims.get("exp", 0) < time.time():
            raise unauthorized("ExpiredAuthenticationToken", "The access token expiry UTC time is in the past.")
        return claims

    def check_bearer(self, request: Request) -> dict:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise unauthorized("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        return self.verify(header[7:].strip())

    def token_response(self, resource: str) -> dict:
        scope = resource.removesuffix("/.default")
        return {"access_token": self.mint(scope), "expires_on": str(int(time.time()) + TOKEN_LIFETIME),
                "resource": scope, "token_type": "Bearer", "client_id": self.client_id}

    def managed_identity_endpoint(self, request: Request) -> Response:
        """App Service style endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER), as `az login --identity` uses."""
        if not hmac.compare_digest(request.headers.get("x-identity-header", ""), self.identity_header):
            raise ArmError(401, "Unauthorized", "The X-IDENTITY-HEADER header is missing or wrong.")
        resource = request.query.get("resource")
        if not resource:
            raise ArmError(400, "BadRequest", "The 'resource' query parameter is required.")
        return Response(200, self.token_response(resource))


def unauthorized(code: str, message: str) -> ArmError:
    return ArmError(401, code, message, headers={
        "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", '
                            f'error="invalid_token", error_description="{message}"'})
