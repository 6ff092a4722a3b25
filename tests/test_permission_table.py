"""The permission table: every URL pattern, asked by every persona, against team A's objects.

One table says what each persona gets from each URL; the test walks the resolver and fails when
a pattern has no row, when a row names no pattern, or when a status differs from the table.

Personas (the order of the statuses in a row):
    portal_admin  a portal administrator (no team role: sees everything, changes nothing)
    admin_a       an admin of team A (owns team A's instance and draft)
    lead_a        a team lead of team A
    admin_b       an admin of team B (another team: team A's objects answer 404)
    no_role       a signed-in user without a role
    anonymous     nobody signed in (pages: 302 to the login page)

A row is `(method, url_template, statuses)`:
    ("GET", "/instances/{instance}/", (200, 200, 200, 404, 403, 302))
`statuses` is a 6-tuple in the persona order above (PERSONAS). Requests carry no body (a POST
is empty), so a persona that passes the permission check gets the page's own answer to an empty
form (200 confirm page, 400 invalid form, 302 done...). Each request runs in a savepoint that is
rolled back, so no row changes the world for the next one.

Placeholders filled from the world built below (all of team A unless said):
    {instance}      a Ready instance awaiting review, owned by admin_a, with a job and a delivery
    {job}           its provisioning job          {delivery}    a webhook delivery of it
    {setup}         a draft owned by admin_a      {notification} a notification of admin_a's
    {user}          lead_a's user id              {team}        team A's id
    {membership}    lead_a's membership in team A {api_key}     an API key of admin_a's
    {record}        a record id (any uuid)

Rows for the management API (/api/v1/ less the CRM API, and the API key pages) live in
tests/permission_table_api.py, a module-level `ROWS` list of the same shape; its rows are
added to this table when the module exists.
"""

from __future__ import annotations

import importlib
import re
import uuid

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from setup_portal.azure.certificates import generate_certificate
from setup_portal.events.models import Delivery, Event, Notification, WebhookEndpoint
from setup_portal.instances.models import ProvisioningJob
from setup_portal.teams.models import GroupMapping, Membership, Team
from setup_portal.teams.roles import set_portal_admin, set_role
from setup_portal.wizard.models import Setup
from tests.conftest import _make_user
from tests.instances.factories import make_instance

PERSONAS = ("portal_admin", "admin_a", "lead_a", "admin_b", "no_role", "anonymous")
Row = tuple[str, str, tuple[int, int, int, int, int, int]]

# Patterns the table does not cover: served elsewhere (the sandbox) or by the web server.
SKIPPED = re.compile(r"^/(_sandbox/|static/)")

ROWS: list[Row] = [
    # Home
    ("GET", "/", (200, 200, 200, 200, 200, 302)),
    ("POST", "/", (200, 200, 200, 200, 200, 302)),
    # Sign-in and the account's own pages (allauth): the same for everyone signed in
    ("GET", "/accounts/password/reset/", (200, 200, 200, 200, 200, 200)),
    ("POST", "/accounts/password/reset/", (200, 200, 200, 200, 200, 200)),
    ("GET", "/accounts/password/reset/key/{uidb36}-{key}/", (200, 200, 200, 200, 200, 200)),
    ("POST", "/accounts/password/reset/key/{uidb36}-{key}/", (200, 200, 200, 200, 200, 200)),
    ("GET", "/accounts/login/", (302, 302, 302, 302, 302, 200)),
    ("POST", "/accounts/login/", (302, 302, 302, 302, 302, 200)),
    ("GET", "/accounts/logout/", (200, 200, 200, 200, 200, 302)),
    ("POST", "/accounts/logout/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/inactive/", (200, 200, 200, 200, 200, 200)),
    ("POST", "/accounts/inactive/", (405, 405, 405, 405, 405, 405)),
    ("GET", "/accounts/signup/", (302, 302, 302, 302, 302, 200)),
    ("POST", "/accounts/signup/", (302, 302, 302, 302, 302, 200)),
    ("GET", "/accounts/reauthenticate/", (200, 200, 200, 200, 200, 302)),
    ("POST", "/accounts/reauthenticate/", (200, 200, 200, 200, 200, 302)),
    ("GET", "/accounts/reauthenticate/code/", (302, 302, 302, 302, 302, 302)),
    ("POST", "/accounts/reauthenticate/code/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/reauthenticate/code/confirm/", (302, 302, 302, 302, 302, 302)),
    ("POST", "/accounts/reauthenticate/code/confirm/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/email/", (200, 200, 200, 200, 200, 302)),
    ("POST", "/accounts/email/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/confirm-email/", (200, 200, 200, 200, 200, 200)),
    ("POST", "/accounts/confirm-email/", (405, 405, 405, 405, 405, 405)),
    ("GET", "/accounts/password/change/", (200, 200, 200, 200, 200, 302)),
    ("POST", "/accounts/password/change/", (200, 200, 200, 200, 200, 302)),
    ("GET", "/accounts/password/set/", (302, 302, 302, 302, 302, 302)),
    ("POST", "/accounts/password/set/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/password/reset/", (200, 200, 200, 200, 200, 200)),
    ("POST", "/accounts/password/reset/", (200, 200, 200, 200, 200, 200)),
    ("GET", "/accounts/login/code/confirm/", (302, 302, 302, 302, 302, 302)),
    ("POST", "/accounts/login/code/confirm/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/confirm-email/{key}/", (200, 200, 200, 200, 200, 200)),
    ("POST", "/accounts/confirm-email/{key}/", (404, 404, 404, 404, 404, 404)),
    ("GET", "/accounts/password/reset/key/done/", (200, 200, 200, 200, 200, 200)),
    ("POST", "/accounts/password/reset/key/done/", (405, 405, 405, 405, 405, 405)),
    ("GET", "/accounts/password/reset/key/{uidb36}-{key}/", (200, 200, 200, 200, 200, 200)),
    ("POST", "/accounts/password/reset/key/{uidb36}-{key}/", (200, 200, 200, 200, 200, 200)),
    ("GET", "/accounts/password/reset/done/", (200, 200, 200, 200, 200, 200)),
    ("POST", "/accounts/password/reset/done/", (405, 405, 405, 405, 405, 405)),
    ("GET", "/accounts/2fa/", (200, 200, 200, 200, 200, 302)),
    ("POST", "/accounts/2fa/", (405, 405, 405, 405, 405, 302)),
    ("GET", "/accounts/2fa/authenticate/", (302, 302, 302, 302, 302, 302)),
    ("POST", "/accounts/2fa/authenticate/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/2fa/reauthenticate/", (302, 302, 302, 302, 302, 302)),
    ("POST", "/accounts/2fa/reauthenticate/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/2fa/totp/activate/", (302, 302, 302, 302, 302, 302)),
    ("POST", "/accounts/2fa/totp/activate/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/2fa/totp/deactivate/", (404, 404, 404, 404, 404, 302)),
    ("POST", "/accounts/2fa/totp/deactivate/", (404, 404, 404, 404, 404, 302)),
    ("GET", "/accounts/2fa/recovery-codes/", (404, 404, 404, 404, 404, 302)),
    ("POST", "/accounts/2fa/recovery-codes/", (405, 405, 405, 405, 405, 302)),
    ("GET", "/accounts/2fa/recovery-codes/generate/", (302, 302, 302, 302, 302, 302)),
    ("POST", "/accounts/2fa/recovery-codes/generate/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/2fa/recovery-codes/download/", (404, 404, 404, 404, 404, 302)),
    ("POST", "/accounts/2fa/recovery-codes/download/", (404, 404, 404, 404, 404, 302)),
    ("GET", "/accounts/3rdparty/login/cancelled/", (200, 200, 200, 200, 200, 200)),
    ("POST", "/accounts/3rdparty/login/cancelled/", (405, 405, 405, 405, 405, 405)),
    ("GET", "/accounts/3rdparty/login/error/", (401, 401, 401, 401, 401, 401)),
    ("POST", "/accounts/3rdparty/login/error/", (405, 405, 405, 405, 405, 405)),
    ("GET", "/accounts/3rdparty/signup/", (302, 302, 302, 302, 302, 302)),
    ("POST", "/accounts/3rdparty/signup/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/accounts/3rdparty/", (200, 200, 200, 200, 200, 302)),
    ("POST", "/accounts/3rdparty/", (200, 200, 200, 200, 200, 302)),
    ("GET", "/accounts/social/login/cancelled/", (301, 301, 301, 301, 301, 301)),
    ("POST", "/accounts/social/login/cancelled/", (301, 301, 301, 301, 301, 301)),
    ("GET", "/accounts/social/login/error/", (301, 301, 301, 301, 301, 301)),
    ("POST", "/accounts/social/login/error/", (301, 301, 301, 301, 301, 301)),
    ("GET", "/accounts/social/signup/", (301, 301, 301, 301, 301, 301)),
    ("POST", "/accounts/social/signup/", (301, 301, 301, 301, 301, 301)),
    ("GET", "/accounts/social/connections/", (301, 301, 301, 301, 301, 301)),
    ("POST", "/accounts/social/connections/", (301, 301, 301, 301, 301, 301)),
    # Sign in with Microsoft (allauth's OpenID Connect provider): not configured in the tests, so not found
    ("GET", "/accounts/oidc/{provider_id}/login/", (404, 404, 404, 404, 404, 404)),
    ("POST", "/accounts/oidc/{provider_id}/login/", (404, 404, 404, 404, 404, 404)),
    ("GET", "/accounts/oidc/{provider_id}/login/callback/", (404, 404, 404, 404, 404, 404)),
    ("POST", "/accounts/oidc/{provider_id}/login/callback/", (404, 404, 404, 404, 404, 404)),
    # Users, teams and memberships (portal administrators; team admins see their own team)
    ("GET", "/users/", (200, 403, 403, 403, 403, 302)),
    ("POST", "/users/", (200, 403, 403, 403, 403, 302)),
    ("GET", "/users/add/", (200, 403, 403, 403, 403, 302)),
    ("POST", "/users/add/", (400, 403, 403, 403, 403, 302)),
    ("GET", "/users/{user}/", (200, 403, 403, 403, 403, 302)),
    ("POST", "/users/{user}/", (200, 403, 403, 403, 403, 302)),
    ("GET", "/users/{user}/teams/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/users/{user}/teams/", (400, 403, 403, 403, 403, 302)),
    ("GET", "/users/{user}/portal-admin/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/users/{user}/portal-admin/", (302, 403, 403, 403, 403, 302)),
    ("GET", "/users/{user}/password/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/users/{user}/password/", (200, 403, 403, 403, 403, 302)),
    ("GET", "/users/memberships/{membership}/role/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/users/memberships/{membership}/role/", (302, 403, 403, 403, 403, 302)),
    ("GET", "/users/memberships/{membership}/remove/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/users/memberships/{membership}/remove/", (200, 403, 403, 403, 403, 302)),
    ("GET", "/users/entra-groups/", (200, 403, 403, 403, 403, 302)),
    ("POST", "/users/entra-groups/", (400, 403, 403, 403, 403, 302)),
    ("GET", "/users/entra-groups/{mapping_id}/remove/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/users/entra-groups/{mapping_id}/remove/", (302, 403, 403, 403, 403, 302)),
    ("GET", "/users/teams/", (200, 200, 403, 200, 403, 302)),
    ("POST", "/users/teams/", (200, 403, 403, 403, 403, 302)),
    ("GET", "/users/teams/{team}/", (200, 200, 403, 404, 403, 302)),
    ("POST", "/users/teams/{team}/", (200, 200, 403, 404, 403, 302)),
    ("GET", "/users/teams/{team}/rename/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/users/teams/{team}/rename/", (400, 403, 403, 403, 403, 302)),
    ("GET", "/users/teams/{team}/members/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/users/teams/{team}/members/", (400, 403, 403, 403, 403, 302)),
    # Wizard: team A's draft belongs to admin_a
    ("GET", "/setup/", (200, 200, 200, 302, 403, 302)),
    ("POST", "/setup/", (200, 200, 200, 302, 403, 302)),
    ("GET", "/setup/new/", (403, 200, 403, 200, 403, 302)),
    ("POST", "/setup/new/", (403, 302, 403, 302, 403, 302)),
    ("GET", "/setup/sandbox/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/setup/sandbox/", (403, 302, 403, 302, 403, 302)),
    ("GET", "/setup/promote/{instance}/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/setup/promote/{instance}/", (403, 302, 403, 404, 403, 302)),
    ("GET", "/setup/{setup}/", (302, 302, 302, 404, 403, 302)),
    ("POST", "/setup/{setup}/", (302, 302, 302, 404, 403, 302)),
    ("GET", "/setup/{setup}/discard/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/setup/{setup}/discard/", (403, 302, 403, 404, 403, 302)),
    ("GET", "/setup/{setup}/certificate.{fmt}", (200, 200, 200, 404, 403, 302)),
    ("POST", "/setup/{setup}/certificate.{fmt}", (200, 200, 200, 404, 403, 302)),
    ("GET", "/setup/{setup}/{stage}/", (200, 200, 200, 404, 403, 302)),
    ("POST", "/setup/{setup}/{stage}/", (403, 400, 403, 404, 403, 302)),
    # Azure AD sign-in
    ("GET", "/azure/authorize/{setup}/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/azure/authorize/{setup}/", (403, 400, 403, 404, 403, 302)),
    ("GET", "/azure/adminconsent/{setup}/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/azure/adminconsent/{setup}/", (403, 302, 403, 404, 403, 302)),
    ("GET", "/azure/callback/", (400, 400, 400, 400, 400, 302)),
    ("POST", "/azure/callback/", (400, 400, 400, 400, 400, 400)),
    ("GET", "/azure/reauthorize/{instance}/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/azure/reauthorize/{instance}/", (403, 400, 403, 404, 403, 302)),
    # Instances: team A's; admin_b gets 404
    ("GET", "/instances/", (200, 200, 200, 200, 403, 302)),
    ("POST", "/instances/", (405, 405, 405, 405, 403, 302)),
    ("GET", "/instances/export.csv", (200, 200, 200, 200, 403, 302)),
    ("POST", "/instances/export.csv", (405, 405, 405, 405, 403, 302)),
    ("GET", "/instances/{instance}/", (200, 200, 200, 404, 403, 302)),
    ("POST", "/instances/{instance}/", (405, 405, 405, 405, 405, 302)),
    ("GET", "/instances/{instance}/status.json", (200, 200, 200, 404, 403, 302)),
    ("POST", "/instances/{instance}/status.json", (405, 405, 405, 405, 405, 302)),
    ("GET", "/instances/{instance}/approve/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/approve/", (403, 403, 302, 404, 403, 302)),
    ("GET", "/instances/{instance}/request-changes/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/request-changes/", (403, 403, 400, 404, 403, 302)),
    ("GET", "/instances/{instance}/test-connection/", (403, 200, 403, 404, 403, 302)),
    ("POST", "/instances/{instance}/test-connection/", (403, 200, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/disable/", (403, 200, 403, 404, 403, 302)),
    ("POST", "/instances/{instance}/disable/", (403, 200, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/enable/", (403, 200, 403, 404, 403, 302)),
    ("POST", "/instances/{instance}/enable/", (403, 200, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/rotate-secret/", (403, 200, 403, 404, 403, 302)),
    ("POST", "/instances/{instance}/rotate-secret/", (403, 400, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/next-certificate.{fmt}", (403, 200, 403, 404, 403, 302)),
    ("POST", "/instances/{instance}/next-certificate.{fmt}", (405, 405, 405, 405, 405, 405)),
    ("GET", "/instances/{instance}/delete/", (403, 200, 403, 404, 403, 302)),
    ("POST", "/instances/{instance}/delete/", (403, 400, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/edit/", (403, 200, 403, 404, 403, 302)),
    ("POST", "/instances/{instance}/edit/", (403, 400, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/token/", (403, 200, 403, 404, 403, 302)),
    ("POST", "/instances/{instance}/token/", (403, 200, 403, 404, 403, 302)),
    # Show and confirm a new token: only for whoever issued it (admin_a has none waiting: 404)
    ("GET", "/instances/{instance}/token/show/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/token/show/", (403, 404, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/token/copied/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/token/copied/", (403, 404, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/progress/", (200, 200, 200, 404, 403, 302)),
    ("POST", "/instances/{instance}/progress/", (200, 200, 200, 404, 403, 302)),
    ("GET", "/instances/{instance}/progress/stream/", (200, 200, 200, 404, 403, 302)),
    ("POST", "/instances/{instance}/progress/stream/", (200, 200, 200, 404, 403, 302)),
    ("GET", "/instances/{instance}/progress.json", (200, 200, 200, 404, 403, 302)),
    ("POST", "/instances/{instance}/progress.json", (200, 200, 200, 404, 403, 302)),
    ("GET", "/instances/{instance}/progress/retry/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/progress/retry/", (403, 302, 403, 404, 403, 302)),
    # Events: webhook settings and the delivery log of team A's instance
    ("GET", "/instances/{instance}/events/", (200, 200, 200, 404, 403, 302)),
    ("POST", "/instances/{instance}/events/", (403, 302, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/events/rotate-secret/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/events/rotate-secret/", (403, 302, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/deliveries/", (200, 200, 200, 404, 403, 302)),
    ("POST", "/instances/{instance}/deliveries/", (405, 405, 405, 405, 405, 405)),
    ("GET", "/instances/{instance}/deliveries/test/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/deliveries/test/", (403, 302, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/deliveries/{delivery}/redeliver/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/deliveries/{delivery}/redeliver/", (403, 302, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/poll/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/poll/", (403, 302, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/realtime/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/realtime/", (403, 302, 403, 404, 403, 302)),
    ("GET", "/instances/{instance}/realtime/rotate-key/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/realtime/rotate-key/", (403, 302, 403, 404, 403, 302)),
    # Dataverse's pushes (real-time mode): no session counts, only the instance's key in a header
    ("GET", "/hooks/dataverse/{instance}/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/hooks/dataverse/{instance}/", (401, 401, 401, 401, 401, 401)),
    # Notifications: each person's own
    ("GET", "/notifications/", (200, 200, 200, 200, 200, 302)),
    ("POST", "/notifications/", (405, 405, 405, 405, 405, 405)),
    ("GET", "/notifications/{notification}/read/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/notifications/{notification}/read/", (404, 302, 404, 404, 404, 302)),
    ("GET", "/notifications/read-all/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/notifications/read-all/", (302, 302, 302, 302, 302, 302)),
    ("GET", "/instances/{instance}/notifications/mute/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/notifications/mute/", (302, 302, 302, 404, 403, 302)),
    ("GET", "/instances/{instance}/notifications/unmute/", (405, 405, 405, 405, 405, 405)),
    ("POST", "/instances/{instance}/notifications/unmute/", (302, 302, 302, 404, 403, 302)),
    # Audit log: scoped by team inside the page
    ("GET", "/audit/", (200, 200, 200, 200, 403, 302)),
    ("POST", "/audit/", (405, 405, 405, 405, 403, 302)),
    ("GET", "/audit/export.csv", (200, 200, 200, 200, 403, 302)),
    ("POST", "/audit/export.csv", (405, 405, 405, 405, 403, 302)),
    # The CRM API: instance tokens only, no session counts
    ("GET", "/api/v1/crm/raw/{path}", (401, 401, 401, 401, 401, 401)),
    ("POST", "/api/v1/crm/raw/{path}", (401, 401, 401, 401, 401, 401)),
    ("GET", "/api/v1/crm/openapi.json", (401, 401, 401, 401, 401, 401)),
    ("POST", "/api/v1/crm/openapi.json", (401, 401, 401, 401, 401, 401)),
    ("GET", "/api/v1/crm/batch", (401, 401, 401, 401, 401, 401)),
    ("POST", "/api/v1/crm/batch", (401, 401, 401, 401, 401, 401)),
    ("GET", "/api/v1/crm/objects", (401, 401, 401, 401, 401, 401)),
    ("POST", "/api/v1/crm/objects/refresh", (401, 401, 401, 401, 401, 401)),
    ("GET", "/api/v1/crm/objects/{resource}/metadata", (401, 401, 401, 401, 401, 401)),
    ("GET", "/api/v1/crm/{resource}", (401, 401, 401, 401, 401, 401)),
    ("POST", "/api/v1/crm/{resource}", (401, 401, 401, 401, 401, 401)),
    ("GET", "/api/v1/crm/{resource}/bulk", (401, 401, 401, 401, 401, 401)),
    ("POST", "/api/v1/crm/{resource}/bulk", (401, 401, 401, 401, 401, 401)),
    ("GET", "/api/v1/crm/{resource}/{record}", (401, 401, 401, 401, 401, 401)),
    ("POST", "/api/v1/crm/{resource}/{record}", (401, 401, 401, 401, 401, 401)),
    ("GET", "/api/v1/crm/{anything}", (401, 401, 401, 401, 401, 401)),
    ("POST", "/api/v1/crm/{anything}", (401, 401, 401, 401, 401, 401)),
]


def all_rows() -> list[Row]:
    rows = list(ROWS)
    try:
        api = importlib.import_module("tests.permission_table_api")
    except ModuleNotFoundError:
        return rows
    return rows + list(api.ROWS)


def _patterns(resolver: URLResolver | None = None, prefix: str = "/") -> list[str]:
    """Every URL pattern as text, e.g. "/instances/<uuid:instance_id>/"."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        text = prefix + str(entry.pattern).lstrip("^").rstrip("$")
        if isinstance(entry, URLResolver):
            found += _patterns(entry, text)
        elif isinstance(entry, URLPattern):
            found.append(text)
    return found


PLACEHOLDER = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)|\[\\s\\S\]\*")


def _shape(text: str) -> str:
    """A pattern or a URL template reduced to its shape: every parameter becomes {}."""
    return re.sub(r"\{\w+\}", "{}", PLACEHOLDER.sub("{}", text)).replace("\\", "")


@pytest.fixture
def world(db, django_user_model):
    team_a = Team.objects.create(name="Team A")
    team_b = Team.objects.create(name="Team B")
    people = {name: _make_user(django_user_model, name, None) for name in PERSONAS if name != "anonymous"}
    set_portal_admin(people["portal_admin"])
    set_role(people["admin_a"], "admin", team_a)
    set_role(people["lead_a"], "teamlead", team_a)
    set_role(people["admin_b"], "admin", team_b)
    certificate = generate_certificate("permission table")
    # Off the sandbox: re-authorizing it stops at the outbound guard instead of signing in anywhere.
    inst = make_instance(people["admin_a"], team=team_a, name="team-a-instance", use_sandbox=False,
                         next_certificate_pem=certificate.certificate_pem,
                         next_certificate_key=certificate.private_key_pem)
    job = ProvisioningJob.objects.create(instance=inst, kind=ProvisioningJob.Kind.PROVISION,
                                         created_by=people["admin_a"])
    endpoint = WebhookEndpoint.objects.create(instance=inst, enabled=True, url="https://hooks.example.com/in")
    event = Event.objects.create(instance=inst, type="instance.ready", data={}, occurred_at=timezone.now(),
                                 sequence=1, dedupe_key="table")
    delivery = Delivery.objects.create(event=event, endpoint=endpoint)
    setup = Setup.objects.create(owner=people["admin_a"], team=team_a, certificate_pem=certificate.certificate_pem)
    mapping = GroupMapping.objects.create(group_id=uuid.uuid4(), team=team_a, role="teamlead")
    note = Notification.objects.create(user=people["admin_a"], instance=inst, kind="health_failing", message="x")
    values = {"instance": inst.pk, "job": job.pk, "delivery": delivery.pk, "setup": setup.pk,
              "notification": note.pk, "user": people["lead_a"].pk, "team": team_a.pk,
              "membership": Membership.objects.get(user=people["lead_a"]).pk, "record": uuid.uuid4(),
              "api_key": _api_key(people["admin_a"]),
              # Parameters that are not objects: a stage, a file type, a CRM resource, allauth's keys.
              "stage": "account", "fmt": "pem", "resource": "accounts", "path": "WhoAmI", "anything": "anything",
              "uidb36": "1", "key": "abc-def", "provider_id": "microsoft",
              "mapping_id": mapping.pk}
    return people, values


def _api_key(owner) -> int | None:
    try:
        from setup_portal.api.keys.actions import do_create_api_key
    except ImportError:
        return None
    return do_create_api_key(owner, name="table", acting_user=owner).api_key.pk


def _status(user, method: str, url: str) -> int:
    """What `user` (None: anonymous) gets, in a savepoint rolled back afterwards: a fresh client
    and session per request, so a row that logs out or changes things leaves no trace."""
    with transaction.atomic():
        client = Client()
        if user is not None:
            client.force_login(user)
        # A streaming response is left unread and unclosed: closing ends the test's connection.
        response = client.generic(method, url)
        transaction.set_rollback(True)
    return response.status_code


def test_every_url_pattern_has_a_row():
    patterns = {_shape(p) for p in _patterns() if not SKIPPED.match(p)}
    covered = {_shape(url) for _, url, _ in all_rows()}
    assert sorted(patterns - covered) == [], "URL patterns without a row in the permission table"
    assert sorted(covered - patterns) == [], "rows naming no URL pattern"


def test_every_persona_gets_what_the_table_says(world):
    people, values = world
    differences = []
    for method, template, expected in all_rows():
        url = template.format(**values)
        got = tuple(_status(people.get(name), method, url) for name in PERSONAS)
        if got != tuple(expected):
            differences.append(f"{method} {template}: table {tuple(expected)}, got {got}")
    assert differences == [], "\n".join(differences)
