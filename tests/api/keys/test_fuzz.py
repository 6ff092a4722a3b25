"""API keys under hostile input: whatever is typed or sent, never a 500, and nothing made by a refusal."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from setup_portal.api.models import ApiKey
from tests import fuzz

MINE = "/account/api-keys/"


@fuzz.fuzz(40)
@given(data=fuzz.form_data({"name": fuzz.huge_or_hostile, "expires_days": fuzz.hostile_text,
                            "\x00": fuzz.hostile_text}))
def test_the_create_form_never_fails(charlie_client, data):
    before = ApiKey.objects.count()
    ticket = re.search(r'name="ticket" value="([^"]+)"', charlie_client.get(MINE).content.decode()).group(1)
    response = fuzz.post(charlie_client, MINE, {**data, "ticket": ticket})
    body = fuzz.assert_answered(response)
    if response.status_code == 400:
        assert ApiKey.objects.count() == before
    elif response.status_code == 200:
        assert ApiKey.objects.count() == before + 1 and b'id="api-key"' in body


bearer = st.one_of(fuzz.hostile_text, fuzz.hostile_text.map(lambda text: f"dcp_{text}"),
                   st.from_regex(r"\Adcp_[a-z0-9]{10}_[A-Za-z0-9_-]{0,60}\Z"))


@fuzz.fuzz(60)
@given(key=bearer, scheme=st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", ""]))
def test_any_credential_is_refused_without_a_failure(db, client, key, scheme):
    header = f"{scheme} {key}" if scheme else key
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=header.encode("utf-8", "surrogatepass").decode("latin-1"))
    fuzz.assert_answered(response, lambda status: status == 401)
    assert response["WWW-Authenticate"].startswith('Bearer realm="api"')
