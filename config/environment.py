"""Reading the portal's settings from the environment: typed values whose errors name the variable,
and the checks that keep development's published secrets out of production (config/settings.py)."""

from __future__ import annotations

import base64
import os

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()


def _read(name: str, cast, default):
    """Read one variable, turning a parse failure into a message that names it."""
    if name not in os.environ:
        return default
    raw = os.environ[name]
    try:
        return cast(name)
    except (ValueError, TypeError, ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not valid: {exc}") from None


def env_bool(name: str, default: bool) -> bool:
    if name not in os.environ:
        return default
    raw = os.environ[name].strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name}={os.environ[name]!r} is not valid: use 1/0, true/false, yes/no or on/off")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = _read(name, env.int, default)
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is not valid: must be at least {minimum}")
    return value


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_list(name: str, default: list[str]) -> list[str]:
    if name not in os.environ:
        return default
    return [item.strip() for item in os.environ[name].split(",") if item.strip()]


# The SECRET_KEY line of .env.example: long enough to pass the length check, so refused by name.
_ENV_EXAMPLE_SECRET_KEY = "change-me-to-50-or-more-random-characters-python-c-import-secrets-token_urlsafe-50"
# Development's keys, published here: with DEBUG off they are refused, as are keys of (nearly) one character.
_DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production-0123456789"
_DEVELOPMENT_FIELD_KEY = "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZHVjdGk="
_MAKE_SECRET_KEY = "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`"
_MAKE_FIELD_KEY = "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"


def checked_secrets(debug: bool, secret_key: str, allowed_hosts: list[str],
                    field_keys: list[str]) -> tuple[str, list[str], list[str]]:
    """SECRET_KEY, ALLOWED_HOSTS and FIELD_ENCRYPTION_KEYS as the portal runs with them: refused when
    DEBUG is off and one is missing, weak or published; development's defaults when DEBUG is on."""
    if not debug:
        missing = [n for n, v in [("SECRET_KEY", secret_key), ("ALLOWED_HOSTS", allowed_hosts),
                                  ("FIELD_ENCRYPTION_KEYS", field_keys)] if not v]
        if missing:
            raise ImproperlyConfigured(
                "With DEBUG off the portal needs " + ", ".join(missing) + " set in the environment."
            )
        if len(secret_key) < 50:
            raise ImproperlyConfigured("SECRET_KEY is too short: use at least 50 random characters.")
        if secret_key == _ENV_EXAMPLE_SECRET_KEY:
            raise ImproperlyConfigured(f"SECRET_KEY is the placeholder from .env.example: generate one with "
                                       f"{_MAKE_SECRET_KEY}.")
        if secret_key == _DEVELOPMENT_SECRET_KEY or secret_key.startswith("django-insecure-"):
            raise ImproperlyConfigured("SECRET_KEY is the development key published in config/environment.py: "
                                       f"generate one with {_MAKE_SECRET_KEY}.")
        if len(set(secret_key)) < 5:  # Django's deploy check's bar too
            raise ImproperlyConfigured(f"SECRET_KEY is one character (or fewer than five) repeated: generate one "
                                       f"with {_MAKE_SECRET_KEY}.")
        if _DEVELOPMENT_FIELD_KEY in field_keys:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds the development key published in "
                                       "config/settings.py, with which anyone can read the secrets stored: make one "
                                       f"with {_MAKE_FIELD_KEY} (secrets stored with the development key must then "
                                       "be entered again).")
    else:
        secret_key = secret_key or _DEVELOPMENT_SECRET_KEY
        allowed_hosts = allowed_hosts or ["127.0.0.1", "localhost", "[::1]", "testserver"]
        # A fixed development key so a restart can still read what it stored.
        field_keys = field_keys or [_DEVELOPMENT_FIELD_KEY]
    for key in field_keys:
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key "
                f"(32 url-safe base64-encoded bytes; make one with {_MAKE_FIELD_KEY})."
            ) from None
        if not debug and len(set(base64.urlsafe_b64decode(key))) == 1:  # "AAAA…A=": 32 zero bytes
            raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds a key of one byte repeated: make one with "
                                       f"{_MAKE_FIELD_KEY}.")
    return secret_key, allowed_hosts, field_keys
