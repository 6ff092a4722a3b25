"""Example answers shown in the API docs (Swagger UI, Redoc), one per operation that has a body."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

_ID = "7d1e1f0c-4a57-4d4c-9d35-2a8e0f6a3b11"
INSTANCE_VALUE = {
    "id": _ID, "url": f"/api/v1/instances/{_ID}", "name": "Contoso sales", "tags": ["sales", "emea"],
    "status": "ready", "review_state": "pending", "health": "ok", "auth_type": "s2s",
    "credential_kind": "certificate", "certificate_thumbprint": "3B1A6F0C2D4E5F60718293A4B5C6D7E8F9012345",
    "dynamics_url": "https://contoso.crm4.dynamics.com", "owner": "alice"}
JOB_VALUE = {
    "id": 42, "url": "/api/v1/jobs/42", "kind": "provision", "status": "running", "steps": [
        {"key": "token", "label": "Get an access token", "position": 0, "status": "succeeded"},
        {"key": "whoami", "label": "Ask Dataverse who we are", "position": 1, "status": "running"}]}
SETUP_VALUE = {"id": "0b6f3f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "owner": "alice", "status": "draft",
               "current_stage": "keys", "auth_type": "s2s"}


def _answer(name: str, value: dict, status: str = "200") -> OpenApiExample:
    return OpenApiExample(name, response_only=True, status_codes=[status], value=value)


def _page(*rows: dict) -> OpenApiExample:
    return _answer("A page", {"results": list(rows), "previous": None,
                              "next": "https://portal.example.com/api/v1/…?cursor=WyIvYXBpL3Yx…"})


INSTANCE = _answer("A ready instance", INSTANCE_VALUE)
INSTANCE_PAGE = _page(INSTANCE_VALUE)
CONNECTION_TEST = _answer("Queued", {"requested_at": "2026-11-27T10:15:00Z",
                                     "health_url": f"/api/v1/instances/{_ID}/health"}, "202")
POLL = _answer("Queued", {"requested_at": "2026-11-27T10:15:00Z", "tables": ["accounts", "contacts"],
                          "realtime": True}, "202")
TOKEN = _answer("A new token", {"token": "dci_3kq8x2m1_…", "prefix": "dci_3kq8x2m1"}, "201")
WEBHOOK_SECRET = _answer("A new secret", {"secret": "whsec_…", "previous_valid_until": "2026-11-28T10:15:00Z"}, "201")
JOB = _answer("A job half way", JOB_VALUE)
JOB_DONE = _answer("Succeeded: the new token, once, to the key that started the job", {
    **JOB_VALUE, "status": "succeeded", "instance_token": "dci_3kq8x2m1_…",
    "steps": [{**step, "status": "succeeded"} for step in JOB_VALUE["steps"]]})
JOB_PAGE = _page(JOB_VALUE)
JOB_RETRIED = _answer("Queued again", {**JOB_VALUE, "status": "queued"}, "202")
HEALTH_PAGE = _page({"checked_at": "2026-11-27T10:15:03Z", "ok": True, "duration_ms": 420,
                     "detail": "WhoAmI answered.", "error_code": "", "triggered_by": "alice"})
REVIEW_PAGE = _page({"id": 7, "decision": "changes_requested", "comment": "Tag it with the region.",
                     "reviewer": "bob", "created_at": "2026-11-27T09:00:00Z", "resolved_at": None})
SETUP_PAGE = _page(SETUP_VALUE)
SETUP = _answer("A draft", {**SETUP_VALUE, "stages": [{"stage": "account", "valid": True, "user": "alice"}]})
PROMOTED_SETUP = _answer("A draft for production", {
    **SETUP_VALUE, "current_stage": "environment", "dynamics_url": "",
    "stages": [{"stage": "account", "valid": True, "user": "alice"}]}, status="201")
AUDIT_PAGE = _page({"id": 981, "created_at": "2026-11-27T10:15:00Z", "actor": "alice", "verb": "instance.disabled",
                    "target_type": "instance", "target_id": _ID, "target_label": "Contoso sales",
                    "data": {"reason": "Contract ended"}})
TEAM_VALUE = {"id": 1, "url": "/api/v1/teams/1", "name": "Default team", "created_at": "2026-11-01T08:00:00Z",
              "members": [{"membership": 3, "user": 1, "username": "alice", "role": "admin"}]}
TEAM_PAGE = _page(TEAM_VALUE)
TEAM = _answer("A team", TEAM_VALUE)
NEW_TEAM = _answer("Created", {**TEAM_VALUE, "id": 4, "url": "/api/v1/teams/4", "name": "EMEA sales",
                               "members": []}, "201")
USER_VALUE = {"id": 2, "url": "/api/v1/users/2", "username": "bob", "email": "bob@example.com", "is_active": True,
              "portal_administrator": False, "last_login": None,
              "teams": [{"membership": 5, "team": 1, "team_name": "Default team", "role": "teamlead"}]}
USER_PAGE = _page(USER_VALUE)
USER = _answer("A user", USER_VALUE)
USER_PORTAL_ADMIN = _answer("Now a portal administrator", {**USER_VALUE, "portal_administrator": True})
NEW_USER = _answer("Created, with the one-time password", {
    **USER_VALUE, "last_login": None, "password": "q3V8x1Rk_Zp2m0Aa"}, "201")
MEMBERSHIP_VALUE = {"id": 5, "url": "/api/v1/memberships/5", "user": 2, "username": "bob", "team": 1,
                    "team_name": "Default team", "role": "teamlead", "created_at": "2026-11-27T10:15:00Z"}
MEMBERSHIP = _answer("A membership", {**MEMBERSHIP_VALUE, "role": "admin"})
MEMBERSHIP_ADDED = _answer("Added", MEMBERSHIP_VALUE, "201")
GROUP_MAPPING_VALUE = {"id": 3, "url": "/api/v1/group-mappings/3", "group_id": "5b7e3c1a-9d2f-4e8b-a6c4-1f0e2d3c4b5a",
                       "team": 1, "team_name": "Default team", "role": "teamlead", "portal_admin": False,
                       "created_at": "2026-11-27T10:15:00Z"}
GROUP_MAPPING_PAGE = _page(GROUP_MAPPING_VALUE)
NEW_GROUP_MAPPING = _answer("Mapped", GROUP_MAPPING_VALUE, "201")
PROVISIONING_QUEUED = _answer("Queued", {"instance": _ID, "instance_url": f"/api/v1/instances/{_ID}", "job": 42,
                                         "job_url": "/api/v1/jobs/42"}, "202")
_CERTIFICATE = {"thumbprint": "3B1A6F0C2D4E5F60718293A4B5C6D7E8F9012345",
                "certificate_pem": "-----BEGIN CERTIFICATE-----\nMIIC…\n-----END CERTIFICATE-----\n",
                "expires_on": "2027-12-04", "subject": "CN=Dynamics CRM Setup Portal Contoso sales"}
NEXT_CERTIFICATE = _answer("Upload it to the app registration", _CERTIFICATE, "201")
CERTIFICATE_TO_UPLOAD = _answer("Certificate generated: upload it, then provision", {
    "setup": SETUP_VALUE["id"], "setup_url": f"/api/v1/setups/{SETUP_VALUE['id']}", "certificate": _CERTIFICATE,
    "provision_url": f"/api/v1/setups/{SETUP_VALUE['id']}/provision"}, "201")
WIZARD_CONTINUES = _answer("OAuth 2.0: continue in the browser", {
    "setup": SETUP_VALUE["id"], "setup_url": f"/api/v1/setups/{SETUP_VALUE['id']}",
    "wizard_url": f"https://portal.example.com/setup/{SETUP_VALUE['id']}/authorize/"}, "201")
