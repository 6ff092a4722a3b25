"""The permission table's rows for the management API (/api/v1/ less the CRM API).

Same shape as tests/test_permission_table.py's ROWS: `(method, url_template, statuses)`, statuses
in PERSONAS order (portal_admin, admin_a, lead_a, admin_b, no_role, anonymous), over the world that
test builds (team A's Ready instance awaiting review, its queued job, admin_a's draft). Requests
come from a signed-in browser session with no body: a persona past the permission check gets the
operation's own answer to an empty request (400 where a body is required, 409 where the state
does not allow it). Other teams' objects answer 404, people without a role 403, nobody 401.
"""

from __future__ import annotations

SEE = (200, 200, 200, 200, 403, 401)  # lists: everyone with a role, each their own teams' rows
SEE_A = (200, 200, 200, 404, 403, 401)  # one of team A's objects
CHANGE_A = (403, 200, 403, 404, 403, 401)  # team A's admins change team A's instances
INSTANCE = "/api/v1/instances/{instance}"

ROWS = [
    ("GET", "/api/v1/instances", SEE),
    ("POST", "/api/v1/instances", (403, 400, 403, 400, 403, 401)),
    ("DELETE", "/api/v1/instances", (405, 405, 405, 405, 403, 401)),
    ("GET", INSTANCE, SEE_A),
    ("PATCH", INSTANCE, CHANGE_A),
    ("DELETE", INSTANCE, (403, 204, 403, 404, 403, 401)),
    ("PUT", INSTANCE, (405, 405, 405, 405, 403, 401)),
    ("POST", INSTANCE + "/disable", CHANGE_A),
    ("POST", INSTANCE + "/enable", (403, 409, 403, 404, 403, 401)),  # it is not disabled
    ("POST", INSTANCE + "/promote", (403, 201, 403, 404, 403, 401)),  # Ready: a draft for production
    ("POST", INSTANCE + "/test-connection", (403, 202, 403, 404, 403, 401)),
    ("POST", INSTANCE + "/poll", (403, 409, 403, 404, 403, 401)),  # polling is off: nothing to poll
    ("POST", INSTANCE + "/token", (403, 201, 403, 404, 403, 401)),
    ("POST", INSTANCE + "/webhook-secret", (403, 201, 403, 404, 403, 401)),
    ("POST", INSTANCE + "/next-certificate", (403, 201, 403, 404, 403, 401)),
    # Switching to the generated next certificate asks Azure AD first: off the sandbox, the outbound guard
    # stops the request, which is Azure AD out of reach (503), nothing changed.
    ("POST", INSTANCE + "/certificate", (403, 503, 403, 404, 403, 401)),
    ("GET", INSTANCE + "/jobs", SEE_A),
    ("GET", INSTANCE + "/health", SEE_A),
    ("GET", INSTANCE + "/reviews", SEE_A),
    ("POST", INSTANCE + "/approve", (403, 403, 200, 404, 403, 401)),
    ("POST", INSTANCE + "/request-changes", (403, 403, 400, 404, 403, 401)),  # a comment is required
    ("GET", INSTANCE + "/crm-docs/", SEE_A),
    # The instance's CRM API document asks its environment for its tables: off the sandbox, the outbound guard
    # stops that (Azure AD out of reach for its token, 503).
    ("GET", INSTANCE + "/crm-openapi.json", (503, 503, 503, 404, 403, 401)),
    ("GET", "/api/v1/jobs/{job}", SEE_A),
    ("POST", "/api/v1/jobs/{job}/retry", (403, 409, 403, 404, 403, 401)),  # it has not failed
    ("GET", "/api/v1/setups", SEE),
    ("GET", "/api/v1/setups/{setup}", SEE_A),
    ("POST", "/api/v1/setups/{setup}/provision", (403, 400, 403, 404, 403, 401)),  # admin_a's draft; no body
    ("GET", "/api/v1/audit-events", SEE),
    ("GET", "/api/v1/schema/", SEE),
    ("GET", "/api/v1/docs/", SEE),
    ("GET", "/api/v1/redoc/", SEE),
]

# Personal API keys (their own pages; /api/v1/me answers who a key or session acts as).
ROWS += [
    ("GET", "/account/api-keys/", (200, 200, 200, 200, 200, 302)),
    ("POST", "/account/api-keys/", (302, 302, 302, 302, 302, 302)),  # back to the page, with the form's errors
    # admin_a's key: its owner and portal administrators may revoke it (an empty POST asks to confirm);
    # to anyone else it is a 404, as a missing one.
    ("GET", "/account/api-keys/{api_key}/revoke/", (200, 200, 404, 404, 404, 302)),
    ("POST", "/account/api-keys/{api_key}/revoke/", (200, 200, 404, 404, 404, 302)),
    ("GET", "/users/api-keys/", (200, 403, 403, 403, 403, 302)),
    ("GET", "/api/v1/me", (200, 200, 200, 200, 200, 401)),
]

# Teams, memberships and users: portal administrators only (an empty body is a 400 where one is needed).
PORTAL_ADMIN = (200, 403, 403, 403, 403, 401)
ROWS += [
    ("GET", "/api/v1/teams", PORTAL_ADMIN),
    ("POST", "/api/v1/teams", (400, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/teams/{team}", PORTAL_ADMIN),
    ("PATCH", "/api/v1/teams/{team}", PORTAL_ADMIN),  # an empty PATCH changes nothing
    ("DELETE", "/api/v1/teams/{team}", (405, 403, 403, 403, 403, 401)),
    ("POST", "/api/v1/teams/{team}/members", (400, 403, 403, 403, 403, 401)),
    ("PATCH", "/api/v1/memberships/{membership}", PORTAL_ADMIN),
    ("DELETE", "/api/v1/memberships/{membership}", (204, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/users", PORTAL_ADMIN),
    ("POST", "/api/v1/users", (400, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/users/{user}", PORTAL_ADMIN),
    ("POST", "/api/v1/users/{user}/portal-admin", PORTAL_ADMIN),  # lead_a becomes one
    ("DELETE", "/api/v1/users/{user}/portal-admin", PORTAL_ADMIN),  # lead_a is not one: nothing changes
    # Entra ID group mappings: as on Users › Entra ID groups ({mapping_id}: team A's team leads' group)
    ("GET", "/api/v1/group-mappings", PORTAL_ADMIN),
    ("POST", "/api/v1/group-mappings", (400, 403, 403, 403, 403, 401)),
    ("DELETE", "/api/v1/group-mappings/{mapping_id}", (204, 403, 403, 403, 403, 401)),
    ("GET", "/api/v1/group-mappings/{mapping_id}", (405, 403, 403, 403, 403, 401)),
]
