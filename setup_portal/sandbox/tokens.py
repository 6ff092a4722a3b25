"""Tokens shaped like Microsoft identity platform v2 tokens, signed RS256 with joserfc.

Reference: https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
and https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .directory import App, User

ACCESS_TOKEN_LIFETIME = 3600
CLOCK_SKEW = 300


class InvalidToken(Exception):
    """A bearer token the sandbox would not accept; the message says why."""


def issuer(backchannel_base: str, tenant_id: str) -> str:
    return f"{backchannel_base}/{tenant_id}/v2.0"


def pairwise_sub(oid: str, client_id: str) -> str:
    """Azure's `sub` differs per app for the same user; derive it the same stable way."""
    digest = hashlib.sha256(f"{oid}:{client_id.lower()}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def client_info(user: User, tenant_id: str) -> str:
    """msal builds its account (home_account_id = uid.utid) from this."""
    raw = json.dumps({"uid": user.oid, "utid": tenant_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def sign(key: RSAKey, kid: str, claims: dict) -> str:
    return jwt.encode({"typ": "JWT", "alg": "RS256", "kid": kid}, claims, key)


def _common(iss: str, aud: str, tenant_id: str, lifetime: int) -> dict:
    now = int(time.time())
    return {"aud": aud, "iss": iss, "iat": now, "nbf": now, "exp": now + lifetime, "tid": tenant_id,
            "uti": secrets.token_urlsafe(16), "ver": "2.0"}


def user_access_claims(*, iss: str, aud: str, tenant_id: str, app: App, user: User, scp: list[str],
                       azpacr: str = "1") -> dict:
    """`azpacr`: how the client authenticated — "0" public, "1" secret, "2" certificate."""
    claims = _common(iss, aud, tenant_id, ACCESS_TOKEN_LIFETIME)
    claims.update({
        "azp": app.client_id, "azpacr": "0" if app.public_client else azpacr, "appid": app.client_id,
        "idtyp": "user", "name": user.name, "oid": user.oid, "preferred_username": user.upn, "upn": user.upn,
        "scp": " ".join(scp), "sub": pairwise_sub(user.oid, app.client_id),
        "amr": ["pwd", "mfa"] if user.mfa_required else ["pwd"],
    })
    return claims


def app_access_claims(*, iss: str, aud: str, tenant_id: str, app: App, azpacr: str = "1") -> dict:
    claims = _common(iss, aud, tenant_id, ACCESS_TOKEN_LIFETIME)
    # An app token's oid/sub is the app's service principal in the tenant.
    claims.update({"azp": app.client_id, "azpacr": azpacr, "appid": app.client_id, "idtyp": "app",
                   "oid": app.object_id, "sub": app.object_id, "roles": []})
    return claims


# Entra puts at most this many group IDs in a JWT; past it, the overage claim names Graph instead.
GROUPS_CLAIM_LIMIT = 200


def id_token_claims(*, iss: str, tenant_id: str, app: App, user: User, nonce: str, email: bool,
                    groups: list[str] | None = None, graph_base: str = "") -> dict:
    """`groups`: the user's group IDs when the app registration asks for group claims."""
    claims = _common(iss, app.client_id, tenant_id, ACCESS_TOKEN_LIFETIME)
    claims.update({"name": user.name, "oid": user.oid, "preferred_username": user.upn,
                   "sub": pairwise_sub(user.oid, app.client_id), "aio": uuid.uuid4().hex,
                   "amr": ["pwd", "mfa"] if user.mfa_required else ["pwd"]})
    if groups is not None and len(groups) > GROUPS_CLAIM_LIMIT:
        claims["_claim_names"] = {"groups": "src1"}
        claims["_claim_sources"] = {"src1": {"endpoint": f"{graph_base}/v1.0/users/{user.oid}/getMemberGroups"}}
    elif groups is not None:
        claims["groups"] = groups
    if nonce:
        claims["nonce"] = nonce
    if email:
        claims["email"] = user.upn
    return claims


def jwks(key: RSAKey, kid: str, iss: str) -> dict:
    public = key.as_dict(private=False)
    return {"keys": [{"kty": "RSA", "use": "sig", "kid": kid, "n": public["n"], "e": public["e"],
                      "alg": "RS256", "issuer": iss}]}


_public_keys: dict[str, RSAKey] = {}


def verify(token: str, *, key: RSAKey, kid: str, audience: str, iss: str) -> dict:
    """Check signature, key id, issuer, audience and lifetime; return the claims."""
    public = _public_keys.get(kid)
    if public is None:
        public = _public_keys[kid] = RSAKey.import_key(key.as_dict(private=False))
    try:
        decoded = jwt.decode(token, public, algorithms=["RS256"])
    except (JoseError, ValueError) as exc:
        raise InvalidToken("The token signature is invalid.") from exc
    if decoded.header.get("kid") != kid:
        raise InvalidToken("The token was signed with an unknown key.")
    claims = decoded.claims
    now = time.time()
    if claims.get("iss") != iss:
        raise InvalidToken("The token issuer is invalid.")
    if str(claims.get("aud", "")).rstrip("/").lower() != audience.rstrip("/").lower():
        raise InvalidToken(f"The audience '{claims.get('aud')}' is invalid.")
    if not isinstance(claims.get("exp"), int) or claims["exp"] + CLOCK_SKEW < now:
        raise InvalidToken("The token is expired.")
    if isinstance(claims.get("nbf"), int) and claims["nbf"] - CLOCK_SKEW > now:
        raise InvalidToken("The token is not yet valid.")
    return claims
