"""Promote…: a Ready rehearsal starts a new setup with what carries over, and its instance links back."""

from __future__ import annotations

from setup_portal.audit.models import AuditEvent
from setup_portal.events.models import WebhookEndpoint
from setup_portal.instances import creation
from setup_portal.instances.models import Instance
from setup_portal.wizard.models import Setup, StageRecord
from tests.instances.factories import make_instance


def _rehearsal(owner) -> Instance:
    inst = make_instance(owner, name="Contoso Sales", tags=",sales,emea,", polling_enabled=True,
                         polling_resources=["accounts"], polling_interval_minutes=30, filter_nulls=False,
                         auth_type="s2s")
    WebhookEndpoint.objects.create(instance=inst, enabled=True, url="https://hooks.example.com/crm",
                                   lifecycle_types=["instance.ready"])
    return inst


def test_it_starts_a_setup_with_what_carries_over(alice, alice_client):
    source = _rehearsal(alice)
    response = alice_client.post(f"/setup/promote/{source.pk}/")
    setup = Setup.objects.exclude(pk=source.setup_id).get(owner=alice)
    assert response.status_code == 302 and response["Location"] == f"/setup/{setup.pk}/environment/"
    assert setup.auth_type == "s2s" and setup.team_id == source.team_id and setup.dynamics_url == ""
    assert setup.client_id == "" and not setup.client_secret and setup.authorized_at is None
    settings = setup.instance_settings
    assert settings["name"] == "Contoso Sales (production)" and settings["tags"] == ["sales", "emea"]
    assert (settings["polling_enabled"], settings["polling_resources"], settings["polling_interval_minutes"],
            settings["filter_nulls"]) == (True, ["accounts"], 30, False)
    assert settings["callback_url"] == "https://hooks.example.com/crm" and settings["events_enabled"]
    assert "secret" not in str(settings).lower()
    assert StageRecord.objects.filter(setup=setup, stage="account", valid=True).exists()
    assert AuditEvent.objects.filter(verb="instance.promotion_started", target_id=str(source.pk)).exists()


def test_it_links_the_new_instance_and_its_rehearsal(alice):
    source = _rehearsal(alice)
    setup = creation.do_start_promotion(source, acting_user=alice)
    settings = {**setup.instance_settings, "tags": setup.instance_settings["tags"]}
    job = creation.do_finish_setup(setup, settings=settings, started_at=None, acting_user=alice)
    promoted = Instance.objects.get(pk=job.instance_id)
    assert promoted.promoted_from == source and list(source.promotions.all()) == [promoted]
    assert promoted.name == "Contoso Sales (production)" and promoted.polling_interval_minutes == 30
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {"instance.promotion_started", "instance.promoted", "instance.promoted_from"} <= verbs


def test_it_refuses_an_instance_that_is_not_ready(alice, alice_client):
    source = make_instance(alice, status=Instance.Status.FAILED)
    response = alice_client.post(f"/setup/promote/{source.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/instances/{source.pk}/"
    assert not Setup.objects.filter(instance_settings__promoted_from=str(source.pk)).exists()


def test_it_requires_admin_access(bob_client, alice):
    source = _rehearsal(alice)
    assert bob_client.post(f"/setup/promote/{source.pk}/").status_code == 403


def test_it_refuses_a_production_instance_and_says_why(alice, alice_client):
    source = make_instance(alice, name="Contoso Live", environment_type="Production")
    page = alice_client.get(f"/instances/{source.pk}/").content.decode()
    assert "Promote…" not in page and "Production" in page
    response = alice_client.post(f"/setup/promote/{source.pk}/", follow=True)
    assert response.redirect_chain == [(f"/instances/{source.pk}/", 302)]
    assert "production environment" in response.content.decode()
    assert not Setup.objects.filter(instance_settings__promoted_from=str(source.pk)).exists()


def test_a_sandbox_or_unreported_environment_is_still_promoted(alice, alice_client):
    for kind, shown in (("Sandbox", "Sandbox"), ("", "not reported")):
        source = make_instance(alice, name=f"Rehearsal {kind or 'unknown'}", environment_type=kind)
        page = alice_client.get(f"/instances/{source.pk}/").content.decode()
        assert "Promote…" in page and shown in page
        response = alice_client.post(f"/setup/promote/{source.pk}/")
        assert response.status_code == 302 and response["Location"].endswith("/environment/")
