"""Records of what was typed hold any text on either database (setup_portal/text.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from setup_portal.audit.models import AuditEvent, record, scrub
from setup_portal.text import storable, storable_json
from tests import fuzz

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), fuzz.hostile_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(fuzz.hostile_text, inner, max_size=3)),
    max_leaves=10,
)


def test_it_marks_where_unstorable_characters_were():
    assert storable("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    assert storable_json({"\x00": ["\x00", 1, None, {"k": "\udfff"}]}) == {
        "\ufffd": ["\ufffd", 1, None, {"k": "\ufffd"}]}


def test_an_audit_event_keeps_text_postgresql_would_refuse(alice):
    # The admin-consent callback records the `tenant` of its query string, where %00 is a NUL byte.
    event = record("setup.admin_consent_granted", alice, actor=alice, data={"tenant": "contoso\x00", "\x00": "x"})
    event.refresh_from_db()
    assert event.data == {"tenant": "contoso\ufffd", "\ufffd": "x"}


@fuzz.fuzz(40)
@given(data=st.dictionaries(fuzz.hostile_text, json_values, max_size=4))
def test_any_json_from_input_is_stored_and_read_back(alice, data):
    event = record("fuzz.stored", alice, actor=alice, data=data)
    assert AuditEvent.objects.get(pk=event.pk).data == storable_json(scrub(data))
