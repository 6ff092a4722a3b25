"""The instance token applications present to the CRM API: how one is made and fingerprinted.

The portal keeps only the fingerprint: the first PREFIX_LENGTH characters (to find the row
by an index, and to show which token an instance has) and the SHA-256 of the whole token (to
compare in constant time). Provisioning, "Issue a new instance token" and the API's
authentication all use these functions, so the three can never disagree.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_TAG = "dci_"
PREFIX_LENGTH = 12


def new_instance_token() -> str:
    return TOKEN_TAG + secrets.token_urlsafe(32)


def token_prefix(token: str) -> str:
    return token[:PREFIX_LENGTH]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
