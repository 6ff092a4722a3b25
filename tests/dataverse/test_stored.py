"""The stored copy of an environment's metadata: kept per instance, one claim a minute for re-reads."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from setup_portal.dataverse import stored
from setup_portal.dataverse.models import EnvironmentMetadata
from tests.instances.factories import make_instance

DEFINITIONS = {"tables": [{"LogicalName": "cr8a2_project", "EntitySetName": "cr8a2_projects"}], "navigation": {}}


def test_it_stores_loads_and_replaces_the_copy(alice):
    inst = make_instance(alice)
    assert stored.load(inst.pk) is None and stored.fetched_at(inst.pk) is None
    first = stored.store(inst.pk, DEFINITIONS, first=True)
    assert stored.load(inst.pk) == (DEFINITIONS, first) and stored.fetched_at(inst.pk) == first
    later = stored.store(inst.pk, {"tables": [], "navigation": {}})
    assert later >= first and stored.load(inst.pk)[0] == {"tables": [], "navigation": {}}
    assert EnvironmentMetadata._meta.db_table == "api_environmentmetadata"  # the table it had in the api app


def test_it_lets_one_caller_a_minute_read_again(alice):
    inst = make_instance(alice)
    assert not stored.claim_refresh(inst.pk, timedelta(minutes=1))  # nothing stored: nothing to claim
    stored.store(inst.pk, DEFINITIONS, first=True)  # the first read counts as the minute's
    assert not stored.claim_refresh(inst.pk, timedelta(minutes=1))
    two_minutes_ago = stored.fetched_at(inst.pk) - timedelta(minutes=2)
    EnvironmentMetadata.objects.filter(instance=inst).update(checked_at=two_minutes_ago)
    assert stored.claim_refresh(inst.pk, timedelta(minutes=1))
    assert not stored.claim_refresh(inst.pk, timedelta(minutes=1))


@pytest.mark.django_db(transaction=True)
def test_it_says_when_the_instance_is_gone():
    with pytest.raises(stored.InstanceGone):
        stored.store(uuid.uuid4(), DEFINITIONS)
