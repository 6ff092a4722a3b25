"""A new instance token waits for the person who issued it: shown on request (POST, no-store) as often
as they need, erased once they confirm they copied it or after a day; nobody else can show it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from setup_portal.audit.models import AuditEvent
from setup_portal.instances import actions, token_reveal
from setup_portal.instances.instance_token import token_hash, token_prefix
from setup_portal.instances.models import Instance
from setup_portal.instances.schedule import BEAT_SCHEDULE
from setup_portal.teams.models import Team
from tests.conftest import _client_for, _make_user

from .factories import make_instance

TOKEN = "dci_held-token-0123456789abcdefghijklmnopqrstuvw"


@pytest.fixture
def inst(alice):
    inst = make_instance(alice, name="contoso-crm", token_hash=token_hash(TOKEN), token_prefix=token_prefix(TOKEN))
    inst.save(update_fields=token_reveal.hold(inst, TOKEN, issued_to=alice))
    return inst


@pytest.fixture
def dave(django_user_model):
    """Another admin of alice's team."""
    return _make_user(django_user_model, "dave", "admin")


def _show(inst: Instance) -> str:
    return reverse("instances:reveal_token", args=[inst.pk])


def _copied(inst: Instance) -> str:
    return reverse("instances:confirm_token", args=[inst.pk])


def _held(inst: Instance) -> str:
    return str(Instance.objects.get(pk=inst.pk).token_pending_reveal)


def test_it_shows_the_token_to_its_issuer_as_often_as_needed_never_cached(alice_client, alice, inst):
    page = alice_client.get(reverse("instances:detail", args=[inst.pk])).content.decode()
    assert "Show token" in page and TOKEN not in page
    for _ in range(2):
        response = alice_client.post(_show(inst))
        assert response.status_code == 200 and response["Cache-Control"] == "no-store"
        html = response.content.decode()
        assert TOKEN in html and "I have copied it" in html and "<html" in html  # a page of its own
    fragment = alice_client.post(_show(inst), headers={"HX-Request": "true"})
    assert fragment["Cache-Control"] == "no-store" and TOKEN in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    assert _held(inst) == TOKEN
    events = AuditEvent.objects.filter(verb="instance.token_revealed", target_id=str(inst.pk))
    assert events.count() == 3 and {e.actor for e in events} == {alice}
    assert TOKEN not in str(list(events.values_list("data", flat=True)))


def test_a_get_never_shows_it(alice_client, inst):
    assert alice_client.get(_show(inst)).status_code == 405
    assert alice_client.get(_copied(inst)).status_code == 405


def test_it_is_erased_once_its_issuer_has_copied_it(alice_client, alice, inst):
    response = alice_client.post(_copied(inst))
    assert response.status_code == 302 and response["Location"] == reverse("instances:detail", args=[inst.pk])
    inst.refresh_from_db()
    assert inst.token_pending_reveal == "" and inst.token_reveal_to is None and inst.token_reveal_until is None
    assert inst.token_hash == token_hash(TOKEN)  # it still works; only the readable copy is gone
    assert AuditEvent.objects.get(verb="instance.token_confirmed").actor == alice
    assert alice_client.post(_show(inst)).status_code == 404
    assert alice_client.post(_copied(inst)).status_code == 404
    for url in (reverse("instances:detail", args=[inst.pk]), reverse("instances:progress", args=[inst.pk])):
        html = alice_client.get(url).content.decode()
        assert "Show token" not in html and TOKEN not in html


def test_htmx_swaps_the_card_and_a_stale_button_reloads_its_page(alice_client, inst):
    htmx = {"HX-Request": "true"}
    done = alice_client.post(_copied(inst), headers=htmx)
    assert done.status_code == 200 and "keeps only its fingerprint" in done.content.decode()
    stale = alice_client.post(_show(inst), headers=htmx)
    assert stale.status_code == 404 and stale["HX-Refresh"] == "true"


def test_only_its_issuer_can_show_or_confirm_it(inst, bob_client, charlie_client, dave, django_user_model):
    other_team = Team.objects.create(name="Other team")
    erin = _make_user(django_user_model, "erin", None)
    erin.memberships.create(team=other_team, role="admin")
    for client, status in ((bob_client, 403), (charlie_client, 403), (_client_for(dave), 404),
                           (_client_for(erin), 404)):
        assert client.post(_show(inst)).status_code == status
        assert client.post(_copied(inst)).status_code == status
        assert "Show token" not in client.get(reverse("instances:detail", args=[inst.pk])).content.decode()
    assert _held(inst) == TOKEN
    assert not AuditEvent.objects.filter(verb__in=["instance.token_revealed", "instance.token_confirmed"]).exists()


def test_a_day_later_it_is_erased_by_the_sweep(alice_client, inst):
    assert BEAT_SCHEDULE["instances-erase-expired-token-reveals"]["task"] == "instances.erase_expired_token_reveals"
    assert token_reveal.erase_expired() == 0 and _held(inst) == TOKEN
    day_later = timezone.now() + dt.timedelta(hours=token_reveal.REVEAL_HOURS, seconds=1)
    assert token_reveal.erase_expired(day_later) == 1
    inst.refresh_from_db()
    assert inst.token_pending_reveal == "" and inst.token_reveal_until is None
    event = AuditEvent.objects.get(verb="instance.token_reveal_expired")
    assert event.actor is None and event.data == {"prefix": token_prefix(TOKEN), "hours": 24}
    assert alice_client.post(_show(inst)).status_code == 404


def test_a_token_past_its_day_is_erased_when_asked_for(alice_client, inst):
    Instance.objects.filter(pk=inst.pk).update(token_reveal_until=timezone.now() - dt.timedelta(minutes=1))
    assert "Show token" not in alice_client.get(reverse("instances:detail", args=[inst.pk])).content.decode()
    assert alice_client.post(_show(inst)).status_code == 404
    assert _held(inst) == ""
    assert AuditEvent.objects.filter(verb="instance.token_reveal_expired").count() == 1


def test_a_new_token_replaces_the_held_one_and_waits_for_whoever_issued_it(alice, inst, dave):
    before = timezone.now()
    token = actions.do_issue_instance_token(inst, acting_user=dave)
    inst.refresh_from_db()
    assert _held(inst) == token != TOKEN and inst.token_reveal_to == dave
    assert inst.token_reveal_until >= before + dt.timedelta(hours=token_reveal.REVEAL_HOURS)
    assert _client_for(alice).post(_show(inst)).status_code == 404
    dave_client = _client_for(dave)
    assert dave_client.post(_show(inst)).context["token"] == token
    assert dave_client.post(_copied(inst)).status_code == 302 and _held(inst) == ""


def test_a_deleted_instance_shows_nothing(alice_client, alice, inst):
    actions.do_delete_instance(inst, acting_user=alice)
    assert alice_client.post(_show(inst)).status_code == 404
    assert _held(inst) == ""
