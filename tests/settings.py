"""Test settings: the real settings, with a private var/ per test run.

Environment variables set here are inherited by the processes the tests start
(Celery worker, sandbox, web), so they share the broker folder and the sandbox's
certificates with the test process.
"""

import os
import tempfile

if "PORTAL_TEST_VAR_DIR" not in os.environ:
    os.environ["PORTAL_TEST_VAR_DIR"] = tempfile.mkdtemp(prefix="portal-test-")
os.environ.setdefault("VAR_DIR", os.environ["PORTAL_TEST_VAR_DIR"])
os.environ.setdefault("TEST_DB_DIR", os.environ["PORTAL_TEST_VAR_DIR"])
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop in the test thread
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
os.environ.setdefault("OUTBOUND_LOOPBACK_ONLY", "1")  # no test reaches Microsoft, whatever it types
# A call's log row written before the response is closed, so a test sees it right after the call
# (tests/api/crm/test_calllog_writer.py runs the background writer under gunicorn).
os.environ.setdefault("CRM_CALL_LOG_WRITER", "inline")

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
