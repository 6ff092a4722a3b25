"""Words that fit their page on the instance side: rotation refusals, reminders, change requests,
secret hints kept from team leads, and empty states."""

from __future__ import annotations

import datetime as dt
import html

from django.core import mail
from django.utils import timezone

from setup_portal.audit.models import record
from setup_portal.crypto import mask
from setup_portal.instances import keepalive

from .factories import SECRET, make_instance, sandbox_s2s_instance

HINT_TAIL = SECRET[-4:]


def body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return html.unescape(raw.decode())


def test_a_refused_rotation_points_to_the_rotate_form(alice_client, alice, clean_sandbox):
    inst = sandbox_s2s_instance(alice, clean_sandbox.info)
    expires = (timezone.localdate() + dt.timedelta(days=90)).isoformat()
    response = alice_client.post(f"/instances/{inst.pk}/rotate-secret/",
                                 {"new_secret": "Wr0ngQ~not-the-value-of-any-secret-000", "expires_on": expires})
    assert response.status_code == 400
    page = body(response)
    refusal = page[page.index('id="refusal"'):page.index("</div>", page.index('id="refusal"'))]
    assert "Keys stage" not in refusal  # the wizard's advice does not apply on this page
    assert '<a href="#id_new_secret">paste it in the form below</a>' in refusal
    assert 'id="id_new_secret"' in page


def test_the_reminder_subject_is_a_sentence_that_says_to_rotate(alice, bob):
    today = timezone.localdate()
    soon = make_instance(alice, name="contoso-emea", secret_expires_on=today + dt.timedelta(days=7))
    urgent = make_instance(alice, name="wingtip-uk", secret_expires_on=today + dt.timedelta(days=1))
    keepalive.send_secret_reminders([str(soon.pk), str(urgent.pk)], today=today)
    subjects = sorted(message.subject for message in mail.outbox)
    assert subjects == [
        "Action needed: rotate the client secret of wingtip-uk, which expires tomorrow.",
        "Please rotate the client secret of contoso-emea, which expires in 7 days.",
    ]


def test_a_team_lead_sees_no_secret_hint_anywhere(alice, alice_client, bob_client):
    inst = make_instance(alice, name="contoso-crm")
    record("instance.secret_rotated", inst, actor=alice,
           data={"old_hint": mask(SECRET), "new_hint": mask(SECRET), "expires_on": "2030-01-01"})
    pages = {path: body(bob_client.get(path)) for path in [
        "/instances/", f"/instances/{inst.pk}/", "/instances/export.csv", "/audit/", "/audit/export.csv", "/"]}
    for path, page in pages.items():
        assert HINT_TAIL not in page, path
        assert "\u2022" * 8 not in page, path
    assert "expires_on" in pages["/audit/"] and "expires_on" in pages["/audit/export.csv"]  # the rest stays
    # Admins keep the hint: it tells them which secret is in use.
    assert HINT_TAIL in body(alice_client.get("/audit/")) and HINT_TAIL in body(alice_client.get("/audit/export.csv"))


def test_after_a_change_request_the_admin_is_shown_what_can_be_done(alice, alice_client, bob_client):
    inst = make_instance(alice, name="contoso-crm")
    response = bob_client.post(f"/instances/{inst.pk}/request-changes/", {"comment": "Use the production org."})
    assert response.status_code == 302
    home = body(alice_client.get("/"))
    assert "Use the production org." in home
    assert f'href="/instances/{inst.pk}/#changes-requested">What you can do →</a>' in home
    page = body(alice_client.get(f"/instances/{inst.pk}/"))
    notice = page[page.index('id="changes-requested"'):]
    notice = notice[:notice.index("</div>")]
    assert "bob asked for changes" in notice and "Use the production org." in notice
    assert f'action="/azure/reauthorize/{inst.pk}/"' in notice
    for link in (f"/instances/{inst.pk}/rotate-secret/", f"/instances/{inst.pk}/disable/",
                 f"/instances/{inst.pk}/delete/", "/setup/new/"):
        assert f'href="{link}"' in notice, link
    # The team lead who asked sees the request, not the admin's options.
    assert 'id="changes-requested"' not in body(bob_client.get(f"/instances/{inst.pk}/"))


def test_empty_states_use_the_svg_icons(alice_client, bob_client):
    pages = [bob_client.get("/setup/"), bob_client.get("/instances/"), bob_client.get("/audit/?q=nothing-matches")]
    for response in pages:
        page = body(response)
        empty = page[page.index('class="card empty-state"'):]
        assert '<svg class="icon-svg"' in empty[:600], response.request["PATH_INFO"]
        assert "📝" not in page
