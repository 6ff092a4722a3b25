"""Secrets at rest: Fernet encryption with key rotation (MultiFernet).

The first key in FIELD_ENCRYPTION_KEYS encrypts; every key decrypts, so a new key can
be put first while rows written with the old one stay readable (each save re-encrypts).
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return fernet().decrypt(token.encode()).decode()


def mask(value: str, visible: int = 4) -> str:
    """A hint that identifies a secret without revealing it: '••••••••wXyZ'."""
    if not value:
        return ""
    tail = value[-visible:] if len(value) > visible * 3 else ""
    return "\u2022" * 8 + tail


class Secret(str):
    """A decrypted secret whose repr never shows the value (logs, tracebacks)."""

    def __repr__(self) -> str:
        return "Secret('\u2022\u2022\u2022\u2022')"


class EncryptedTextField(models.TextField):
    """Stores a Fernet token; Python code sees the plaintext as a `Secret`.

    Empty strings stay empty so "no secret" needs no decryption.
    """

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        try:
            return Secret(decrypt(value))
        except InvalidToken:
            # Unreadable with the configured keys: behave as if nothing is stored
            # rather than crash a page; the owner is asked to enter it again.
            return ""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value or ""
        return encrypt(str(value))
