"""Credentials are moved, not copied: the instance holds the only copy, and a delete leaves
nothing that decrypts, in any encrypted column of any table."""

from __future__ import annotations

import datetime as dt
import importlib
import json

import pytest
from cryptography.fernet import InvalidToken
from django.apps import apps
from django.db import connection, models
from django.utils import timezone

from setup_portal.azure.flows import do_authorize_without_browser
from setup_portal.azure.models import AuthFlow, Authorization
from setup_portal.crypto import EncryptedTextField, decrypt, mask
from setup_portal.instances.actions import do_reauthenticate_instance
from setup_portal.instances.models import Instance
from setup_portal.instances.tokens import acquire_token_for_instance
from setup_portal.wizard.actions import do_create_setup, do_fill_from_sandbox
from setup_portal.wizard.models import Setup
from tests.azure.provisioning import authorize_setup, create_instance, wait_for_job
from tests.signin.conftest import outcome, post_answer

from .factories import SECRET, make_instance

SECRET_FIELD = {"oauth2": "client_secret", "s2s": "client_secret", "custom": "password"}


@pytest.fixture
def sbx(clean_sandbox):
    clean_sandbox.reset()
    return clean_sandbox


def _setup(owner, sandbox, auth_type: str) -> Setup:
    """An authorized setup filled in like the wizard's "Use the sandbox tenant" button does."""
    setup = do_create_setup(acting_user=owner)
    Setup.objects.filter(pk=setup.pk).update(auth_type=auth_type)
    setup.refresh_from_db()
    do_fill_from_sandbox(setup, sandbox.info, acting_user=owner)
    authorize_setup(setup, sandbox)
    setup.refresh_from_db()
    return setup


@pytest.mark.parametrize("auth_type", ["oauth2", "s2s", "custom"])
def test_creating_an_instance_moves_the_credentials(auth_type, alice, sbx):
    setup = _setup(alice, sbx, auth_type)
    secret = str(getattr(setup, SECRET_FIELD[auth_type]))
    create_instance(setup)

    setup.refresh_from_db()
    assert (setup.client_secret, setup.password) == ("", "")
    assert setup.secret_hint or setup.password_hint, "the setup keeps the hint"
    assert Authorization.objects.get(setup=setup).token_cache == ""
    inst = Instance.objects.get(setup=setup)
    assert getattr(inst, SECRET_FIELD[auth_type]) == secret and inst.token_cache
    assert acquire_token_for_instance(inst).access_token, "the instance works with what it was given"


def test_a_completed_setup_shows_only_the_hint(alice, alice_client, bob_client, sbx):
    setup = _setup(alice, sbx, "oauth2")
    secret = str(setup.client_secret)
    create_instance(setup)
    admin_page = alice_client.get(f"/setup/{setup.pk}/keys/").content.decode()
    assert mask(secret) in admin_page and secret not in admin_page
    lead_page = bob_client.get(f"/setup/{setup.pk}/keys/").content.decode()
    assert "saved" in lead_page and mask(secret) not in lead_page and secret not in lead_page
    assert alice_client.get(f"/setup/{setup.pk}/")["Location"] == f"/instances/{Instance.objects.get().pk}/"


def test_re_authentication_moves_the_new_sign_in_too(alice, sbx):
    setup = _setup(alice, sbx, "s2s")
    create_instance(setup)
    inst = Instance.objects.get()
    authorization = do_authorize_without_browser(user=alice, instance=inst)
    assert authorization.token_cache, "the sign-in's cache waits on the authorization until it is used"
    do_reauthenticate_instance(inst, authorization=authorization, acting_user=alice)
    authorization.refresh_from_db()
    inst.refresh_from_db()
    assert authorization.token_cache == "" and inst.token_cache
    assert not Authorization.objects.exclude(token_cache="").exists()
    assert acquire_token_for_instance(inst).access_token


def test_rotating_the_secret_still_works_after_the_move(alice, alice_client, sbx):
    setup = _setup(alice, sbx, "s2s")
    create_instance(setup)
    inst = Instance.objects.get()
    Instance.objects.filter(pk=inst.pk).update(status=Instance.Status.READY)
    new = sbx.add_secret(sbx.info["s2s_client_id"], days=90)
    response = alice_client.post(f"/instances/{inst.pk}/rotate-secret/", {
        "new_secret": new["value"], "expires_on": (timezone.localdate() + dt.timedelta(days=90)).isoformat()})
    assert response.status_code == 302, response.content.decode()[:2000]
    inst.refresh_from_db()
    assert inst.client_secret == new["value"]
    assert Setup.objects.get(pk=setup.pk).client_secret == ""


# After a delete nothing decrypts ------------------------------------------------------------------

def _encrypted_columns() -> list[tuple[type[models.Model], str]]:
    return [(model, field.column) for model in apps.get_models() for field in model._meta.concrete_fields
            if isinstance(field, EncryptedTextField)]


def _decryptable() -> dict[str, list[str]]:
    """Every stored value, in every encrypted column of every table, that still decrypts (raw SQL:
    the field's own reading hides what fails)."""
    found: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        for model, column in _encrypted_columns():
            table, col = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(column)
            cursor.execute(f"SELECT {col} FROM {table} WHERE {col} <> ''")  # noqa: S608 (names from the models)
            for (stored,) in cursor.fetchall():
                try:
                    found.setdefault(f"{model._meta.label}.{column}", []).append(decrypt(stored)[:40])
                except InvalidToken:
                    continue
    return found


def _plain_text_holding(values: set[str]) -> list[str]:
    """Columns of any table whose plain (unencrypted) text contains one of `values`."""
    hits = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if isinstance(field, EncryptedTextField) or not isinstance(
                        field, models.CharField | models.TextField | models.JSONField):
                    continue
                table = connection.ops.quote_name(model._meta.db_table)
                cursor.execute(f"SELECT {connection.ops.quote_name(field.column)} FROM {table}")  # noqa: S608
                for (stored,) in cursor.fetchall():
                    text = stored if isinstance(stored, str) else json.dumps(stored)
                    hits += [f"{model._meta.label}.{field.column}" for value in values if value in (text or "")]
    return hits


def _refresh_tokens(cache: str) -> set[str]:
    return {entry["secret"] for entry in json.loads(cache).get("RefreshToken", {}).values()}


def test_a_delete_leaves_nothing_that_decrypts(sbx, celery_worker, alice, alice_client):
    """The whole life of an OAuth instance: sign-in, provisioning, a second sign-in, then delete."""
    setup = _setup(alice, sbx, "oauth2")
    secret = str(setup.client_secret)
    wait_for_job(create_instance(setup), celery_worker, statuses=("succeeded",))
    inst = Instance.objects.get()
    response = alice_client.post(f"/azure/reauthorize/{inst.pk}/")
    outcome(alice_client, post_answer(alice_client, sbx.browser_answer(response["Location"])))
    wait_for_job(inst.jobs.first(), celery_worker, statuses=("succeeded",))
    inst.refresh_from_db()
    refresh_tokens = _refresh_tokens(inst.token_cache)
    assert refresh_tokens and _decryptable(), "the test sees the encrypted values it is about"
    alice_client.post(f"/azure/reauthorize/{inst.pk}/")  # a sign-in started and never finished

    response = alice_client.post(f"/instances/{inst.pk}/delete/", {"confirm_name": inst.name})

    assert response.status_code == 302
    assert _decryptable() == {}
    assert _plain_text_holding({secret, *refresh_tokens}) == []
    assert AuthFlow.objects.filter(instance=inst).count() == 2, "the sign-in requests stay as history"


def test_the_migration_erases_the_copies_earlier_instances_left(alice, db):
    """Instances created before credentials moved left copies on their setup and sign-ins."""
    migration = importlib.import_module("setup_portal.instances.migrations.0004_move_credentials_out_of_setups")
    used = Setup.objects.create(owner=alice, client_secret="copied-secret", password="copied-password",
                                secret_hint=mask("copied-secret"), status=Setup.Status.COMPLETED)
    draft = Setup.objects.create(owner=alice, client_secret="draft-secret")
    live = make_instance(alice, setup=used)
    gone_setup = Setup.objects.create(owner=alice, status=Setup.Status.COMPLETED)
    make_instance(alice, setup=gone_setup, status=Instance.Status.DELETED, client_secret="")
    Authorization.objects.create(setup=used, instance=live, user=alice, token_cache="{copied cache}")
    Authorization.objects.create(setup=used, user=alice, token_cache="{earlier sign-in}")
    waiting = Authorization.objects.create(setup=draft, user=alice, token_cache="{not used yet}")
    AuthFlow.objects.create(state="s1", user=alice, setup=gone_setup, flow='{"code_verifier": "v"}',
                            expires_at=timezone.now())

    migration.erase_copies(apps, None)

    used.refresh_from_db()
    assert (used.client_secret, used.password, used.secret_hint) == ("", "", mask("copied-secret"))
    assert Setup.objects.get(pk=draft.pk).client_secret == "draft-secret"
    assert Instance.objects.get(pk=live.pk).client_secret == SECRET
    assert list(Authorization.objects.exclude(token_cache="")) == [waiting]
    assert AuthFlow.objects.get().flow == ""
