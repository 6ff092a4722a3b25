"""Personal API keys: made, verified, revoked, last use recorded, and the command that prints one."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from setup_portal.api.keys.actions import (
    LAST_USE_RESOLUTION,
    ApiKeyError,
    KeyRefused,
    NewKey,
    do_create_api_key,
    do_revoke_api_key,
    note_use,
    split_key,
    verify_api_key,
)
from setup_portal.api.models import ApiKey
from setup_portal.audit.models import AuditEvent
from setup_portal.instances.instance_token import token_hash


def test_it_makes_a_key_kept_as_prefix_and_hash(alice):
    new = do_create_api_key(alice, "  Nightly script ", acting_user=alice)
    key, row = new.key, new.api_key
    assert key.startswith(f"dcp_{row.prefix}_")
    assert split_key(key) == row.prefix
    assert row.hash == token_hash(key) and key not in row.hash
    assert row.name == "Nightly script"
    assert timedelta(days=89, hours=23) < row.expires_at - row.created_at <= timedelta(days=90)
    assert key not in repr(new) and key.split("_", 2)[2] not in str(row)
    event = AuditEvent.objects.get(verb="api_key.created")
    assert event.actor == alice and event.target_id == str(row.pk)
    assert key not in str(event.data) and event.data["prefix"] == row.prefix


def test_it_verifies_a_good_key(alice):
    new = do_create_api_key(alice, "script", expires_days=365, acting_user=alice)
    assert verify_api_key(new.key) == new.api_key
    assert verify_api_key(new.key).owner == alice


@pytest.mark.parametrize("days", [0, -1, 366, 10_000])
def test_it_refuses_expiry_out_of_range(alice, days):
    with pytest.raises(ApiKeyError, match="1 to 365 days"):
        do_create_api_key(alice, "script", expires_days=days, acting_user=alice)
    assert not ApiKey.objects.exists()


def test_it_refuses_a_blank_name_and_an_inactive_owner(alice):
    with pytest.raises(ApiKeyError, match="name"):
        do_create_api_key(alice, "   ", acting_user=alice)
    alice.is_active = False
    alice.save()
    with pytest.raises(ApiKeyError, match="inactive"):
        do_create_api_key(alice, "script", acting_user=None)


def _refusal(key: str) -> str:
    with pytest.raises(KeyRefused) as refused:
        verify_api_key(key)
    return refused.value.reason


def test_it_refuses_a_wrong_secret_and_an_unknown_prefix(alice):
    key = do_create_api_key(alice, "script", acting_user=alice).key
    assert _refusal(key[:-2] + ("AA" if not key.endswith("AA") else "BB")) == "The API key is not valid."
    assert _refusal("dcp_zzzzzzzzzz_" + key.rsplit("_", 1)[1]) == "The API key is not valid."
    for shaped_wrong in ["", "dcp_", "dci_" + key[4:], key.split("_", 2)[0] + "_" + key.split("_", 2)[1],
                         "dcp_short_secret", key + "é", "x" * 500]:
        assert _refusal(shaped_wrong) == "The API key is not valid."


def test_it_refuses_an_expired_key(alice):
    new = do_create_api_key(alice, "script", expires_days=1, acting_user=alice)
    ApiKey.objects.filter(pk=new.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "expired" in _refusal(new.key)
    assert ApiKey.objects.get(pk=new.api_key.pk).status() == ApiKey.Status.EXPIRED


def test_it_refuses_a_revoked_key_and_audits_the_revocation(alice, bob):
    new = do_create_api_key(bob, "script", acting_user=bob)
    assert do_revoke_api_key(new.api_key, acting_user=alice) is True
    assert do_revoke_api_key(new.api_key, acting_user=alice) is False  # once
    assert "revoked" in _refusal(new.key)
    row = ApiKey.objects.get(pk=new.api_key.pk)
    assert row.revoked_by == alice and row.status() == ApiKey.Status.REVOKED
    events = AuditEvent.objects.filter(verb="api_key.revoked")
    assert events.count() == 1 and events.get().actor == alice and events.get().data["owner"] == "bob"


def test_it_refuses_the_key_of_an_inactive_owner(alice):
    new = do_create_api_key(alice, "script", acting_user=alice)
    alice.is_active = False
    alice.save()
    assert "can no longer sign in" in _refusal(new.key)


def test_it_notes_last_use_at_most_once_a_minute_per_address(alice, django_assert_num_queries):
    api_key = do_create_api_key(alice, "script", acting_user=alice).api_key
    with django_assert_num_queries(1):
        note_use(api_key, "10.0.0.1")
    with django_assert_num_queries(0):
        note_use(api_key, "10.0.0.1")
    with django_assert_num_queries(1):
        note_use(api_key, "10.0.0.2")  # another address is worth telling at once
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now() - LAST_USE_RESOLUTION)
    api_key.refresh_from_db()
    with django_assert_num_queries(1):
        note_use(api_key, "10.0.0.2")
    row = ApiKey.objects.get(pk=api_key.pk)
    assert row.last_used_ip == "10.0.0.2" and timezone.now() - row.last_used_at < LAST_USE_RESOLUTION


def test_the_command_prints_only_the_key(alice):
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "alice", "--name", "CI", "--expires-days", "30", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert "\n" not in key and key.startswith("dcp_")
    row = verify_api_key(key)
    assert row.owner == alice and row.name == "CI"
    assert timedelta(days=29, hours=23) < row.expires_at - row.created_at <= timedelta(days=30)
    assert key not in err.getvalue() and "shown only this once" in err.getvalue()
    event = AuditEvent.objects.get(verb="api_key.created")
    assert event.actor_label == "system" and event.data["via"] == "command"


def test_the_command_defaults_to_90_days(alice):
    out = StringIO()
    call_command("create_api_key", "alice", stdout=out, stderr=StringIO())
    row = verify_api_key(out.getvalue().strip())
    assert row.name == "Command line" and row.expires_at - row.created_at > timedelta(days=89)


def test_the_command_refuses_an_unknown_user_and_bad_days(alice):
    with pytest.raises(CommandError, match="No user is called 'nobody'"):
        call_command("create_api_key", "nobody", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="1 to 365 days"):
        call_command("create_api_key", "alice", "--expires-days", "400", stdout=StringIO(), stderr=StringIO())
    assert not ApiKey.objects.exists()


def test_new_key_repr_hides_the_key(alice):
    new = do_create_api_key(alice, "script", acting_user=alice)
    assert isinstance(new, NewKey) and new.key not in repr(new) and new.key not in f"{new!r} {new}"
