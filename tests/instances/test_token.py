"""Issuing a new instance token: admins only, confirmed, audited, the old one stops at once; the new one waits
for its issuer's "Show token" on the instance page (tests/instances/test_token_reveal.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from setup_portal.audit.models import AuditEvent
from setup_portal.instances.instance_token import token_hash, token_prefix
from setup_portal.instances.models import Instance

from .factories import make_instance

OLD_TOKEN = "dci_old-token-0123456789abcdefghijklmnopqrstuv"


@pytest.fixture
def inst(alice):
    return make_instance(alice, name="contoso-crm", token_hash=token_hash(OLD_TOKEN),
                         token_prefix=token_prefix(OLD_TOKEN), token_pending_reveal=OLD_TOKEN)


def _url(inst: Instance) -> str:
    return reverse("instances:issue_token", args=[inst.pk])


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_refuses_team_leads_and_users_without_a_role(bob_client, charlie_client, inst, method):
    for client in (bob_client, charlie_client):
        assert getattr(client, method)(_url(inst), {"confirmed": "yes"}).status_code == 403
    assert Instance.objects.get(pk=inst.pk).token_hash == token_hash(OLD_TOKEN)
    assert not AuditEvent.objects.filter(verb="instance.token_issued").exists()


def test_it_sends_anonymous_visitors_to_sign_in(client, inst):
    response = client.post(_url(inst), {"confirmed": "yes"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_asks_before_issuing(alice_client, inst):
    for response in (alice_client.get(_url(inst)), alice_client.post(_url(inst))):
        assert response.status_code == 200
        html = response.content.decode()
        assert "stops working at once" in html and 'name="confirmed" value="yes"' in html
        assert OLD_TOKEN[:12] in html and OLD_TOKEN not in html
    assert Instance.objects.get(pk=inst.pk).token_hash == token_hash(OLD_TOKEN)


def _shown(client, inst: Instance) -> str:
    response = client.post(reverse("instances:reveal_token", args=[inst.pk]))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    return response.context["token"]


def test_it_issues_a_new_token_held_for_its_issuer_and_the_old_one_stops(alice_client, alice, inst):
    response = alice_client.post(_url(inst), {"confirmed": "yes"})
    assert response.status_code == 302 and response["Location"] == reverse("instances:detail", args=[inst.pk])
    inst.refresh_from_db()
    token = str(inst.token_pending_reveal)
    # The token still waiting from provisioning is replaced by the new one, held for whoever issued it.
    assert token.startswith("dci_") and token != OLD_TOKEN and inst.token_reveal_to == alice
    assert inst.token_hash == token_hash(token) and inst.token_prefix == token_prefix(token)

    event = AuditEvent.objects.get(verb="instance.token_issued")
    assert event.actor == alice
    assert event.data == {"old_prefix": token_prefix(OLD_TOKEN), "new_prefix": token_prefix(token)}
    assert token not in str(event.data)

    # The pages show the prefix and a "Show token" button, never the token itself.
    for url in (reverse("instances:detail", args=[inst.pk]), _url(inst)):
        html = alice_client.get(url).content.decode()
        assert token not in html and token_prefix(token) in html
    assert "Show token" in alice_client.get(reverse("instances:detail", args=[inst.pk])).content.decode()
    assert _shown(alice_client, inst) == token


def test_the_old_token_stops_and_the_new_one_is_accepted_by_the_api(alice_client, inst):
    from setup_portal.api.crm.authentication import _find

    assert _find(OLD_TOKEN) == inst
    alice_client.post(_url(inst), {"confirmed": "yes"})
    token = _shown(alice_client, inst)
    assert _find(OLD_TOKEN) is None
    assert _find(token) == inst


def test_it_refuses_a_deleted_instance(alice_client, inst):
    Instance.objects.filter(pk=inst.pk).update(status=Instance.Status.DELETED)
    assert alice_client.post(_url(inst), {"confirmed": "yes"}).status_code == 404


def test_team_leads_see_no_token_action(bob_client, alice_client, inst):
    assert _url(inst) not in bob_client.get(reverse("instances:detail", args=[inst.pk])).content.decode()
    assert _url(inst) in alice_client.get(reverse("instances:detail", args=[inst.pk])).content.decode()
