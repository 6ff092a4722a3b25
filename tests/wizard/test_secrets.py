"""Once saved, a secret never appears in any page: every wizard page's HTML is checked."""

from __future__ import annotations

from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.azure.models import Authorization
from setup_portal.wizard.models import Setup, StageRecord

from .helpers import SECRET, new_setup, post_stage, stage_url, walk

STAGES = ["account", "environment", "application", "keys", "permissions", "review", "authorize", "instance"]
PASSWORD = "Very-Secret-Pass-42!"


def _pages(client, setup: Setup) -> list[str]:
    urls = ["/", "/setup/", "/setup/new/", f"/setup/{setup.pk}/"] + [stage_url(setup, s) for s in STAGES]
    return [client.get(url, follow=True).content.decode() for url in urls]


def test_secret_is_in_no_page_after_saving(alice_client, bob_client_for_alice):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "authorize")
    Authorization.objects.create(setup=setup, claims={"preferred_username": "admin@contoso.com"})
    Setup.objects.filter(pk=setup.pk).update(authorized_at=timezone.now())
    # A refused re-submit of the keys stage does not echo it either.
    response = post_stage(alice_client, setup, "keys", {"client_id": "bad", "client_secret": SECRET + "9",
                                                        "secret_expires_on": "2030-01-01"})
    assert response.status_code == 400 and SECRET not in response.content.decode()
    for html in _pages(alice_client, setup) + _pages(bob_client_for_alice, setup):
        assert SECRET not in html
        assert SECRET[:12] not in html
    assert SECRET not in str(list(StageRecord.objects.values_list("values", "messages")))
    assert SECRET not in str(list(AuditEvent.objects.values_list("data", flat=True)))


def test_password_is_in_no_page_after_saving(alice_client):
    setup = new_setup(alice_client)
    walk(alice_client, setup, "keys", {"application": {"auth_type": "custom", "account_types": "single"}})
    response = post_stage(alice_client, setup, "keys", {"username": "sync@contoso.com", "password": PASSWORD})
    assert response.status_code == 302
    walk(alice_client, setup, "authorize", {"application": {"auth_type": "custom", "account_types": "single"},
                                            "keys": {"username": "sync@contoso.com", "password": ""}})
    for html in _pages(alice_client, setup):
        assert PASSWORD not in html
    assert PASSWORD not in str(list(StageRecord.objects.values_list("values", "messages")))


def test_secret_is_encrypted_at_rest(alice_client):
    from django.db import connection

    setup = new_setup(alice_client)
    walk(alice_client, setup, "permissions")
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM wizard_setup WHERE id = %s", [setup.pk.hex])
        stored = cursor.fetchone()[0]
    assert stored and SECRET not in stored and stored.startswith("gAAAA")
