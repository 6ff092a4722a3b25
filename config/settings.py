"""Settings for the Dynamics CRM Setup Portal, read from the environment.

Development gets safe defaults (SQLite and a file-system Celery broker under var/).
With DEBUG off the portal refuses to start without its secrets. A bad value raises
ImproperlyConfigured naming the variable.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.environment import checked_secrets, env, env_bool, env_int, env_list, env_str, microsoft_login_app_from
from setup_portal.azure.clouds import AUTHORITY_HOSTS

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = (BASE_DIR / "VERSION").read_text().strip()

DEBUG = env_bool("DEBUG", True)
SECRET_KEY, ALLOWED_HOSTS, FIELD_ENCRYPTION_KEYS = checked_secrets(
    DEBUG, env_str("SECRET_KEY"), env_list("ALLOWED_HOSTS", []),
    # Fernet keys for secrets at rest; the first encrypts, all decrypt (rotation).
    env_list("FIELD_ENCRYPTION_KEYS", []))

VAR_DIR = Path(env_str("VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

# No django.contrib.admin: its sign-in bypassed allauth's rate limits and MFA, and its forms
# would write instance state around the audited actions. Users are managed on /users/.
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "setup_portal.accounts",
    "setup_portal.teams",
    "setup_portal.audit",
    "setup_portal.wizard",
    "setup_portal.azure",
    "setup_portal.dataverse",
    "setup_portal.instances",
    "setup_portal.api",
    "setup_portal.sandbox",
    "setup_portal.events",
    "setup_portal.stats",
    "setup_portal.dashboard",
    "setup_portal.polling",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from static/, never a CDN
]

MIDDLEWARE = [
    # First: probes call /healthz by IP over plain HTTP, which host validation and the
    # HTTPS redirect below would refuse.
    "setup_portal.middleware.HealthCheckMiddleware",
    # Before the instance API's short way, so its calls get a request id and are counted too.
    "setup_portal.observability.middleware.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The instance API (/api/v1/crm/, token-authenticated JSON) skips the page middleware below.
    "setup_portal.api.crm.middleware.InstanceApiMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last: the portal's 404 and 405 pages even with DEBUG on, under the headers of the ones above.
    "setup_portal.error_pages.ErrorPageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "setup_portal.accounts.context_processors.portal",
                "setup_portal.events.context_processors.notifications",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
_database_url = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
except (ValueError, KeyError) as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not valid: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Connections are kept as for PostgreSQL (conn_max_age above): opening one, with the WAL
    # pragma, and closing it again cost the instance API about a sixth of a call's CPU.
    # WAL with synchronous=NORMAL: a commit appends to the WAL without an fsync (one at checkpoints),
    # so the write lock is held for microseconds, not a disk flush. Under concurrent instance API
    # calls (a call log row and a rate-limit bucket write each) the fsync under the lock was what
    # the slowest answers waited for (bench/RESULTS.md, issue 23). Still crash-safe for the process;
    # a power loss may lose the last commits, never corrupt the file (sqlite.org/pragma.html#pragma_synchronous).
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE",
                                       "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    # A file, not memory, so worker processes started by tests see the same data.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(env_str("TEST_DB_DIR") or tempfile.gettempdir())
                    / f"portal-test-{os.getpid()}.sqlite3")
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: holds allauth's rate-limit counters, so it must be shared by every web process and
# survive restarts. Database cache by default (its table is made at migrate time, see
# accounts.apps), Redis via CACHE_URL. A per-process memory cache would multiply the limits.
CACHE_TABLE = "portal_cache"
_cache_url = env_str("CACHE_URL", "db://")
if _cache_url.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}}
elif _cache_url == "db://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": CACHE_TABLE}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={_cache_url!r} is not valid: use db:// or redis://host:6379/<db>")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "account_login"

# django-allauth: username login, no public sign-up, rate limits on.
ACCOUNT_ADAPTER = "setup_portal.accounts.adapters.ClosedSignupAdapter"
ACCOUNT_FORMS = {"login": "setup_portal.accounts.forms.PortalLoginForm"}
SOCIALACCOUNT_ADAPTER = "setup_portal.accounts.adapters.ClosedSocialSignupAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("LOGIN_RATE_LIMIT", "5/5m/ip,5/5m/key"),
    "reset_password": "5/m/ip,3/m/key",
}
ACCOUNT_SESSION_REMEMBER = None
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Dynamics CRM Setup Portal"

# "Sign in with Microsoft": Entra ID through allauth's OpenID Connect provider, on only when its
# settings are given. The tenant is one directory (its GUID or domain), never "organizations" or
# "common": allauth holds the id_token's issuer to the discovery document's, and a multi-tenant
# sign-in would let any directory's user name match a portal user (nOAuth). The portal proves
# itself with a client secret or a certificate (a PEM certificate and its unencrypted private key,
# in one file or two): allauth's provider has no certificate (private_key_jwt) client
# authentication, so its provider class is the portal's (setup_portal/accounts/microsoft/).
MICROSOFT_LOGIN_CLIENT_ID = env_str("MICROSOFT_LOGIN_CLIENT_ID")
MICROSOFT_LOGIN_SECRET = env_str("MICROSOFT_LOGIN_SECRET")
MICROSOFT_LOGIN_CERTIFICATE_FILE = env_str("MICROSOFT_LOGIN_CERTIFICATE_FILE")
MICROSOFT_LOGIN_CERTIFICATE_KEY_FILE = env_str("MICROSOFT_LOGIN_CERTIFICATE_KEY_FILE")
MICROSOFT_LOGIN_TENANT = env_str("MICROSOFT_LOGIN_TENANT")
MICROSOFT_LOGIN_AUTHORITY = env_str("MICROSOFT_LOGIN_AUTHORITY", "https://login.microsoftonline.com").rstrip("/")
# A CA file the calls to the authority trust instead of the system's (the sandbox's ca.pem).
MICROSOFT_LOGIN_CA_FILE = env_str("MICROSOFT_LOGIN_CA_FILE")
# Microsoft Graph, asked for a user's groups when the id_token has the groups overage claim.
MICROSOFT_LOGIN_GRAPH_URL = env_str("MICROSOFT_LOGIN_GRAPH_URL", "https://graph.microsoft.com").rstrip("/")
INSTALLED_APPS.append("allauth.socialaccount.providers.openid_connect")
SOCIALACCOUNT_PROVIDERS: dict = {"openid_connect": {
    "APPS": [], "provider_class": "setup_portal.accounts.microsoft.provider.MicrosoftProvider"}}
_microsoft_login_app = microsoft_login_app_from(
    client_id=MICROSOFT_LOGIN_CLIENT_ID, tenant=MICROSOFT_LOGIN_TENANT, authority=MICROSOFT_LOGIN_AUTHORITY,
    secret=MICROSOFT_LOGIN_SECRET, certificate_file=MICROSOFT_LOGIN_CERTIFICATE_FILE,
    key_file=MICROSOFT_LOGIN_CERTIFICATE_KEY_FILE)
if _microsoft_login_app:
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"].append(_microsoft_login_app)
# Local (username and password) sign-in can be turned off once everyone signs in with Microsoft;
# the break-glass accounts (portal administrators named here) keep it for when Entra is down.
LOCAL_LOGIN_ENABLED = env_bool("LOCAL_LOGIN_ENABLED", True)
BREAK_GLASS_USERS = env_list("BREAK_GLASS_USERS", [])
if not LOCAL_LOGIN_ENABLED and not SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]:
    raise ImproperlyConfigured("LOCAL_LOGIN_ENABLED=0 needs Sign in with Microsoft (MICROSOFT_LOGIN_* settings).")

# E-mail: console by default, SMTP when EMAIL_URL is given (smtp://user:pass@host:587).
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "portal@localhost")
if env_str("EMAIL_URL"):
    try:
        vars().update(env.email_url("EMAIL_URL"))
    except Exception as exc:  # environ raises several types for bad URLs
        raise ImproperlyConfigured(f"EMAIL_URL is not valid: {exc}") from None
else:
    EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "mail")

# Password reset mails a sign-in link: in production it needs a backend that delivers mail,
# never one that writes the link into a log or a file. Off, the reset page says to ask an admin.
PASSWORD_RESET_ENABLED = env_bool("PASSWORD_RESET_ENABLED", True)
_UNDELIVERED_MAIL_BACKENDS = {f"django.core.mail.backends.{name}.EmailBackend"
                              for name in ("console", "filebased", "locmem", "dummy")}
if not DEBUG and PASSWORD_RESET_ENABLED and EMAIL_BACKEND in _UNDELIVERED_MAIL_BACKENDS:
    raise ImproperlyConfigured(
        "With DEBUG off, password reset needs a mail server: set EMAIL_URL "
        "(e.g. smtp+tls://user:pass@smtp.example.com:587), or set PASSWORD_RESET_ENABLED=0 "
        "to turn reset off (users then ask an admin)."
    )

# Celery: file-system broker under var/ by default, Redis via CELERY_BROKER_URL.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = Path(env_str("CELERY_BROKER_DIR") or VAR_DIR / "broker")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "processed"):
        (CELERY_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    # kombu's own, writing each message whole before it appears (its reader could take half a one).
    CELERY_BROKER_TRANSPORT = "config.filesystem_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        # How often a worker looks for its next message. kombu's default, 1 s, paced a busy worker
        # to one task a second (webhooks queued by a poll went out one a second); 0.02 s costs an
        # idle worker about 1% of a core.
        "polling_interval": 0.02,
    }
elif not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://")):
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL={CELERY_BROKER_URL!r} is not valid: use filesystem://, redis:// or amqp://"
    )
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 5
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# A worker holds a provisioning job for this long between heartbeats; the sweeper
# hands jobs with an expired lease to another worker (a worker that died mid-job).
PROVISIONING_LEASE_SECONDS = env_int("PROVISIONING_LEASE_SECONDS", 60, minimum=4)
# Change polling (polling/poller.py): how long a poll holds an instance before another worker may take it,
# the tables always polled by modifiedon (no change tracking in that environment), and how far back a
# modifiedon poll looks again for rows committed late with an earlier stamp.
EVENTS_POLL_LEASE_SECONDS = env_int("EVENTS_POLL_LEASE_SECONDS", 300, minimum=10)
# Real-time mode (Dataverse pushes changes): polling only reconciles, at least this many minutes apart.
EVENTS_RECONCILE_MINUTES = env_int("EVENTS_RECONCILE_MINUTES", 30, minimum=1)
EVENTS_WATERMARK_TABLES = env_list("EVENTS_WATERMARK_TABLES", [])
EVENTS_WATERMARK_OVERLAP_SECONDS = env_int("EVENTS_WATERMARK_OVERLAP_SECONDS", 120)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# The instance API (/api/v1/crm/). A per-instance limit kept under Dataverse's own (6,000
# requests per 5 minutes per user, i.e. 20/s): "20/s burst 40", "600/m", or "off".
CRM_RATE_LIMIT = env_str("CRM_RATE_LIMIT", "20/s burst 40")
# Who writes the instance API's call log: "background" (a writer thread per process, in batches,
# off the keep-alive connection's path) or "inline" (in the request thread as the response closes).
CRM_CALL_LOG_WRITER = env_str("CRM_CALL_LOG_WRITER", "background")
if CRM_CALL_LOG_WRITER not in ("background", "inline"):
    raise ImproperlyConfigured(f"CRM_CALL_LOG_WRITER={CRM_CALL_LOG_WRITER!r}: use background or inline")
# How long a GET may spend retrying Dataverse's 429/503 and dropped connections in total.
CRM_RETRY_BUDGET_SECONDS = env_int("CRM_RETRY_BUDGET_SECONDS", 8)
API_CALL_RETENTION_DAYS = env_int("API_CALL_RETENTION_DAYS", 30, minimum=1)
# The management API (/api/v1/), per personal API key, in the shared cache: "10/s burst 40", "600/m" or "off".
API_KEY_RATE_LIMIT = env_str("API_KEY_RATE_LIMIT", "10/s burst 40")
# Failed API-key and instance-token authentications per client address before a 429: "20/m", "100/h" or "off".
AUTH_FAILURE_LIMIT = env_str("AUTH_FAILURE_LIMIT", "20/m")
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "setup_portal.api.problems.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The management API's OpenAPI schema (/api/v1/schema/) and docs (/api/v1/docs/, /api/v1/redoc/).
SPECTACULAR_SETTINGS = {
    "TITLE": "Dynamics CRM Setup Portal — management API",
    "DESCRIPTION": "Everything admins and team leads do in the portal's pages, for scripts: instances, "
                   "provisioning, jobs, health, reviews, setups and the audit log. Send a personal API key as "
                   "`Authorization: Bearer <key>`. Errors are problem details (RFC 9457).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["setup_portal.api.rest.schema.preprocess_only_management_api"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "setup_portal.api.rest.schema.postprocess_links",
                             "setup_portal.api.rest.crm_reference.postprocess_instance_api_reference"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "InstanceStatusEnum": "setup_portal.instances.models.Instance.Status",
        "ReviewStateEnum": "setup_portal.instances.models.Instance.Review",
        "JobStatusEnum": "setup_portal.instances.models.ProvisioningJob.Status",
        "StepStatusEnum": "setup_portal.instances.models.JobStep.Status",
        "SetupStatusEnum": "setup_portal.wizard.models.Setup.Status",
    },
}

# The sandbox tenant (local Azure AD + Dataverse stand-in). On by default in
# development, off in production unless SANDBOX_ENABLED says otherwise.
SANDBOX_ENABLED = env_bool("SANDBOX_ENABLED", DEBUG)
SANDBOX_HOST = env_str("SANDBOX_HOST", "127.0.0.1")
SANDBOX_HTTP_PORT = env_int("SANDBOX_HTTP_PORT", 8001, minimum=1)
SANDBOX_HTTPS_PORT = env_int("SANDBOX_HTTPS_PORT", 8443, minimum=1)
SANDBOX_DIR = Path(env_str("SANDBOX_DIR") or VAR_DIR / "sandbox")
SANDBOX_SEED_FILE = Path(env_str("SANDBOX_SEED_FILE") or BASE_DIR / "setup_portal" / "sandbox" / "seed.json")
# The sandbox Dataverse's service protection limits per user and window (Dataverse's defaults).
SANDBOX_DATAVERSE_REQUEST_LIMIT = env_int("SANDBOX_DATAVERSE_REQUEST_LIMIT", 6000, minimum=1)
SANDBOX_DATAVERSE_EXECUTION_MS_LIMIT = env_int("SANDBOX_DATAVERSE_EXECUTION_MS_LIMIT", 1_200_000, minimum=1)
SANDBOX_DATAVERSE_CONCURRENCY_LIMIT = env_int("SANDBOX_DATAVERSE_CONCURRENCY_LIMIT", 52, minimum=1)
SANDBOX_DATAVERSE_LIMIT_WINDOW_SECONDS = env_int("SANDBOX_DATAVERSE_LIMIT_WINDOW_SECONDS", 300, minimum=1)

# Where Azure sends the admin back after sign-in; must match the app registration.
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Custom authentication (a user's name and password) has no app of the customer's own; it
# signs in through a public client. Default: the public client Microsoft documents for
# Dataverse samples. Reference: https://learn.microsoft.com/power-apps/developer/data-platform/xrm-tooling/use-connection-strings-xrm-tooling-connect
CUSTOM_AUTH_CLIENT_ID = env_str("CUSTOM_AUTH_CLIENT_ID", "51f81489-12ee-4a9e-aaae-a2591f45987d")
if not re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", CUSTOM_AUTH_CLIENT_ID):
    raise ImproperlyConfigured(
        f"CUSTOM_AUTH_CLIENT_ID={CUSTOM_AUTH_CLIENT_ID!r} is not valid: use an application (client) ID GUID")
# Every outbound HTTP call (Azure AD, Dataverse) has a timeout.
OUTBOUND_TIMEOUT_SECONDS = env_int("OUTBOUND_TIMEOUT_SECONDS", 10, minimum=1)
# Refuse outbound calls to anything but loopback (the sandbox): the test settings turn it on
# so that no test reaches Microsoft, whatever values a test types into the wizard.
OUTBOUND_LOOPBACK_ONLY = env_bool("OUTBOUND_LOOPBACK_ONLY", False)
# Webhooks: one delivery attempt may take this long in all (connecting: at most 3 s of it);
# an endpoint failing without a success for this many days is disabled and its owner told.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
WEBHOOK_DISABLE_AFTER_DAYS = env_int("WEBHOOK_DISABLE_AFTER_DAYS", 3, minimum=1)
# Seconds to wait after each failed attempt (jittered); after the last one the delivery gives up.
# About a day in all; tests shorten it.
try:
    WEBHOOK_RETRY_DELAYS = [float(s) for s in env_list("WEBHOOK_RETRY_DELAYS", [
        "5", "30", "120", "600", "1800", "3600", "10800", "21600", "43200"])]
except ValueError:
    raise ImproperlyConfigured("WEBHOOK_RETRY_DELAYS must be comma-separated seconds, e.g. 5,30,120") from None

# Security: strict in production; `manage.py check --deploy` passes with DEBUG off.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Content-Security-Policy (django-csp) and Permissions-Policy on every response. No inline
# script or style anywhere: JavaScript and CSS come from static/ only, so an injected tag or
# attribute does nothing. Forms may post to the portal and to the sign-in hosts it redirects to
# after a POST (Authorize, Re-authenticate, Sign in with Microsoft): browsers check form-action
# on those redirects too. The sandbox's sign-in pages are plain http on loopback, any port.
_SIGN_IN_ORIGINS = [f"https://{host}" for host in AUTHORITY_HOSTS.values()]
if SANDBOX_ENABLED:  # a wildcard bind address is reached through loopback
    _SIGN_IN_ORIGINS.append(f"http://{'127.0.0.1' if SANDBOX_HOST in {'', '0.0.0.0', '::'} else SANDBOX_HOST}:*")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # data: for the TOTP QR code of two-factor sign-in
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF, *_SIGN_IN_ORIGINS],
    },
}
# Features the portal never uses are off for it and anything it could embed; copy buttons
# keep the clipboard.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: [] for feature in (
        "accelerometer", "autoplay", "browsing-topics", "camera", "clipboard-read", "display-capture",
        "encrypted-media", "geolocation", "gyroscope", "hid", "idle-detection", "magnetometer", "microphone",
        "midi", "payment", "picture-in-picture", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
}
PERMISSIONS_POLICY["clipboard-write"] = ["self"]

# Observability (setup_portal/observability/). /metrics answers only to METRICS_TOKEN (Bearer); METRICS_PORT
# serves the series on a port of their own instead (gunicorn master, Celery worker). Several processes
# share their counts through PROMETHEUS_MULTIPROC_DIR. Traces go to OTEL_EXPORTER_OTLP_ENDPOINT when set.
METRICS_TOKEN = env_str("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN is too short: use at least 16 random characters.")
METRICS_PORT = env_int("METRICS_PORT", 0)
OTEL_EXPORTER_OTLP_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_ENDPOINT")
OTEL_SERVICE_NAME = env_str("OTEL_SERVICE_NAME", "dynamics-crm-setup-portal")
# Log lines: human-readable by default, one JSON object a line with LOG_FORMAT=json.
LOG_FORMAT = (env_str("LOG_FORMAT") or "plain").lower()  # empty: the default too
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not valid: use plain or json")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"ids": {"()": "setup_portal.observability.logs.ContextFilter"}},
    "formatters": {"plain": {"()": "setup_portal.observability.logs.PlainFormatter"},
                   "json": {"()": "setup_portal.observability.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["ids"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Django's own console handler on "django" (DEBUG only) would write each of its lines a second
    # time, bare, beside ours: with LOG_FORMAT=json and DEBUG on, a line that is not JSON.
    "loggers": {"django": {"handlers": []}, "msal": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}
