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


def microsoft_login_app_from(*, client_id: str, tenant: str, authority: str, secret: str,
                             certificate_file: str, key_file: str) -> dict | None:
    """allauth's app entry for "Sign in with Microsoft", or None when it is off; a client secret or
    a certificate (checked here, so a bad file stops the start and names its variable)."""
    from setup_portal.accounts.microsoft import credential  # pure: no models

    if key_file and not certificate_file:
        raise ImproperlyConfigured("MICROSOFT_LOGIN_CERTIFICATE_KEY_FILE needs MICROSOFT_LOGIN_CERTIFICATE_FILE.")
    if secret and certificate_file:
        raise ImproperlyConfigured("Set MICROSOFT_LOGIN_SECRET or MICROSOFT_LOGIN_CERTIFICATE_FILE, not both.")
    if not any([client_id, tenant, secret, certificate_file]):
        return None
    if not (client_id and tenant and (secret or certificate_file)):
        raise ImproperlyConfigured("Set MICROSOFT_LOGIN_CLIENT_ID, MICROSOFT_LOGIN_TENANT and MICROSOFT_LOGIN_SECRET "
                                   "(or MICROSOFT_LOGIN_CERTIFICATE_FILE), or none of them.")
    if tenant.lower() in {"common", "organizations", "consumers"}:
        raise ImproperlyConfigured("MICROSOFT_LOGIN_TENANT must name your directory (its ID or domain), "
                                   f"not {tenant!r}.")
    # The id_token carries what the portal needs; Graph's userinfo would cost a call per sign-in.
    settings = {"server_url": f"{authority}/{tenant}/v2.0", "fetch_userinfo": False,
                "token_auth_method": "client_secret_post"}
    if certificate_file:
        try:
            credential.load(certificate_file, key_file)
        except credential.CredentialError as exc:
            name = "MICROSOFT_LOGIN_CERTIFICATE_KEY_FILE" if exc.part == "key" and key_file else (
                "MICROSOFT_LOGIN_CERTIFICATE_FILE")
            raise ImproperlyConfigured(f"{name}: {exc}") from None
        settings["certificate"] = {"certificate_file": certificate_file, "key_file": key_file}
    return {"provider_id": "microsoft", "name": "Microsoft", "client_id": client_id, "secret": secret,
            "settings": settings}
