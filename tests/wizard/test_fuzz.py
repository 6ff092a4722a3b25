"""Property-based fuzzing: whatever an admin (or an attacker) posts to a stage, the answer is never a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from setup_portal.instances.models import Instance
from setup_portal.wizard.dynamics_url import InvalidDynamicsUrl, normalize_dynamics_url
from setup_portal.wizard.models import Setup

from .helpers import new_setup, stage_url, walk

FIELDS = {
    "account": ["dynamics_account", "consent_admin", "register_app"],
    "environment": ["dynamics_url", "tenant", "cloud"],
    "application": ["auth_type", "account_types", "app_registered"],
    "keys": ["client_id", "client_secret", "secret_expires_on", "username", "password"],
    "permissions": ["confirmed"],
    "instance": ["name", "tags", "polling_enabled", "polling_resources", "polling_interval_minutes", "filter_nulls"],
}
# Text that mixes the shapes forms trip over: unicode, control characters, markup, huge, numeric, dates.
nasty = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", " ", "on", "0", "-1", "99999999999999999999", "2030-02-30", "9999-12-31", "0001-01-01",
                     "https://a.crm.dynamics.com", "http://[::1]:80", "https://127.0.0.1:8443/dataverse/x",
                     "<script>alert(1)</script>", "'; DROP TABLE wizard_setup; --", "\x00", "%00", "a" * 5000,
                     "00000000-0000-0000-0000-000000000000", "{{7*7}}", "${jndi:ldap://x}", "\u202e", "\ud7ff"]),
)
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def authorized_setup(alice_client):
    from django.utils import timezone

    setup = new_setup(alice_client)
    walk(alice_client, setup, "authorize")
    Setup.objects.filter(pk=setup.pk).update(authorized_at=timezone.now())
    return setup


@pytest.mark.parametrize("stage", list(FIELDS))
def test_no_input_gives_a_500(alice_client, authorized_setup, stage):
    @SETTINGS
    @given(data=st.fixed_dictionaries({}, optional={f: st.one_of(nasty, st.lists(nasty, max_size=3))
                                                    for f in FIELDS[stage]}))
    def check(data):
        response = alice_client.post(stage_url(authorized_setup, stage), data)
        assert response.status_code in (200, 302, 400), response.status_code
        if response.status_code == 302 and response["Location"].startswith("/instances/"):
            # Fuzzed input that is a valid instance: undo it so the next example hits the stage again.
            Instance.objects.filter(setup=authorized_setup).delete()
            Setup.objects.filter(pk=authorized_setup.pk).update(status=Setup.Status.DRAFT)
        elif response.status_code == 302:
            assert response["Location"].startswith(f"/setup/{authorized_setup.pk}/")

    check()
    # Whatever was posted, the draft still opens.
    Setup.objects.filter(pk=authorized_setup.pk).update(status=Setup.Status.DRAFT)
    assert alice_client.get(f"/setup/{authorized_setup.pk}/", follow=True).status_code == 200


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.text(max_size=200), st.from_regex(r"https?://[a-z0-9.:@\[\]%-]{0,40}(/[ -~]{0,20})?")))
def test_the_url_guard_only_ever_lets_dynamics_hosts_through(raw):
    try:
        parsed = normalize_dynamics_url(raw, sandbox_allowed=False)
    except InvalidDynamicsUrl as exc:
        assert exc.message
        return
    assert parsed.url == "https://" + parsed.host
    assert parsed.host.endswith((".dynamics.com", ".microsoftdynamics.us", ".dynamics.cn"))
    assert ":" not in parsed.host and "@" not in parsed.host
