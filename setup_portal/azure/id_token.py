"""Our own checks of an id_token: msal checks only the nonce.

Pure functions: the caller fetches the tenant's discovery document and keys (client.py)
and passes them in. The tenant is pinned: a token is accepted only when its `tid` is the
setup's directory, also when the discovery document is the multi-tenant one whose issuer
reads `https://<host>/{tenantid}/v2.0`.
Reference: https://learn.microsoft.com/entra/identity-platform/id-tokens#validate-tokens
"""

from __future__ import annotations

import base64
import json
import re

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from setup_portal.text import GUID

ALLOWED_ALGS = ["RS256"]
# https://<host>/<tenant GUID>/v2.0 (Microsoft's v2 issuer), the GUID in the second-to-last segment
_ISSUER_TENANT = re.compile(r"/([0-9a-fA-F-]{36})/v2\.0/?$")


class IdTokenInvalid(Exception):
    """The id_token failed one of our checks (the message names which, never the token)."""


def tenant_id_from_issuer(issuer: str) -> str | None:
    """The directory GUID a concrete v2 issuer names; None for the multi-tenant `{tenantid}` form."""
    match = _ISSUER_TENANT.search(issuer or "")
    if match and GUID.match(match.group(1)):
        return match.group(1).lower()
    return None


def verify_id_token(id_token: str, *, jwks: dict, issuer: str, audience: str, nonce: str | None,
                    tenant_id: str, leeway: int = 120) -> dict:
    """Check signature, algorithm, tenant, issuer, audience, authorized party, lifetime and nonce.

    `issuer` may contain "{tenantid}"; it is filled from the token's tid, which must be
    `tenant_id` (a GUID) in any case. Returns the claims.
    """
    try:
        header = json.loads(_b64decode(id_token.split(".")[0]))
    except (ValueError, IndexError):
        raise IdTokenInvalid("not a JWT") from None
    alg = header.get("alg") if isinstance(header, dict) else None
    if alg not in ALLOWED_ALGS:
        raise IdTokenInvalid(f"algorithm {alg!r} is not allowed")
    try:
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=ALLOWED_ALGS)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise IdTokenInvalid(f"signature check failed ({type(exc).__name__})") from None
    claims = token.claims
    tid = claims.get("tid")
    if not tid or not isinstance(tid, str):
        raise IdTokenInvalid("no tenant (tid) claim")
    if not tenant_id or tid.lower() != tenant_id.lower():
        raise IdTokenInvalid("issued by another tenant than the setup's directory")
    _check_audience(claims, audience)
    registry = jwt.JWTClaimsRegistry(
        leeway=leeway,
        iss={"essential": True, "value": issuer.replace("{tenantid}", tid)},
        exp={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise IdTokenInvalid(f"claim check failed ({exc.error}: {exc.description})") from None
    if nonce is not None and claims.get("nonce") != nonce:
        raise IdTokenInvalid("nonce does not match")
    return claims


def _check_audience(claims: dict, audience: str) -> None:
    """`aud` is our client ID; with several audiences, `azp` must name us (OpenID Connect Core 3.1.3.7)."""
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise IdTokenInvalid("aud is not this app's client ID")
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise IdTokenInvalid("aud names several apps and azp is missing")
    if azp is not None and azp != audience:
        raise IdTokenInvalid("azp is another app")


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
