"""Walk a setup through the wizard over HTTP, the way an admin's browser would."""

from __future__ import annotations

import datetime as dt

from setup_portal.sandbox.info import sandbox_info
from setup_portal.wizard.models import Setup

SECRET = "Xy8Q~abcdefghijklmnopqrstuvwxyz0123456789"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "1b2c3d4e-0000-4a5b-8c9d-112233445566"


def in_a_year() -> str:
    return (dt.date.today() + dt.timedelta(days=365)).isoformat()


def stage_url(setup: Setup, stage: str) -> str:
    return f"/setup/{setup.pk}/{stage}/"


VALID = {
    "account": {"dynamics_account": "on", "consent_admin": "on", "register_app": "on"},
    "environment": {"dynamics_url": "https://Contoso.crm4.dynamics.com/main.aspx?appid=1", "tenant": TENANT,
                    "cloud": "public"},
    "application": {"auth_type": "oauth2", "account_types": "single", "app_registered": "on"},
    "keys": {"client_id": CLIENT_ID, "client_secret": SECRET, "secret_expires_on": None},
    "permissions": {"confirmed": "on"},
    "review": {},
}


def sandbox_values() -> dict[str, dict]:
    info = sandbox_info()
    values = {stage: dict(data) for stage, data in VALID.items()}
    values["environment"] = {"dynamics_url": info["dynamics_url"], "tenant": info["tenant_id"], "cloud": "public"}
    values["keys"] = {"client_id": info["client_id"], "client_secret": info["client_secret"],
                      "secret_expires_on": info["client_secret_expires"]}
    return values


def post_stage(client, setup: Setup, stage: str, data: dict | None = None):
    data = dict(VALID[stage] if data is None else data)
    if stage == "keys" and data.get("secret_expires_on", "") is None:
        data["secret_expires_on"] = in_a_year()
    return client.post(stage_url(setup, stage), data)


def new_setup(client) -> Setup:
    response = client.post("/setup/new/")
    assert response.status_code == 302, response.status_code
    return Setup.objects.get(pk=response["Location"].split("/")[2])


def walk(client, setup: Setup, until: str, values: dict | None = None) -> None:
    """Complete every stage before `until` (exclusive), asserting each is accepted."""
    for stage in ["account", "environment", "application", "keys", "permissions", "review"]:
        if stage == until:
            return
        assert client.get(stage_url(setup, stage)).status_code == 200
        response = post_stage(client, setup, stage, (values or {}).get(stage))
        assert response.status_code == 302, (stage, response.content.decode()[:3000])
