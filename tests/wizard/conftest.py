import pytest
from django.test import Client

from tests.conftest import _make_user


@pytest.fixture
def bob_client_for_alice(bob):
    """A second, independent client for bob, for tests that already use alice's `client`."""
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def dave(db, django_user_model):
    """A second admin, who does not own alice's drafts."""
    return _make_user(django_user_model, "dave", "admin")
