"""The sandbox's webhook inspector: bins that receive, verify, list and (when told) fail deliveries."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
import requests

from setup_portal.events.models import new_webhook_secret
from setup_portal.events.signing import body_of, signed_headers


def _bin() -> str:
    return "t" + secrets.token_hex(6)


def _signed(event_id: str, secret_list: list[str], *, data: dict | None = None) -> tuple[bytes, dict]:
    now = dt.datetime.now(dt.UTC)
    body = body_of("crm.accounts.created", now, data or {"id": "1"})
    return body, signed_headers(event_id, body, secret_list, now=now)


def _url(sbx, name: str, *, http: bool = False) -> str:
    base = sbx.info["browser_base"] if http else sbx.info["backchannel_base"]
    return f"{base}/_sandbox/webhooks/{name}"


def test_it_verifies_and_lists_a_signed_delivery(sbx):
    name, secret = _bin(), new_webhook_secret()
    sbx.admin("POST", f"webhooks/{name}/config", {"secret": secret})
    body, headers = _signed("msg_one", [secret])
    resp = sbx.session().post(_url(sbx, name), data=body, headers=headers)
    assert resp.status_code == 200
    assert resp.json() == {"received": "msg_one", "verified": True}

    listed = sbx.admin("GET", f"webhooks/{name}?format=json")
    assert listed["count"] == 1
    (item,) = listed["deliveries"]
    assert (item["webhook_id"], item["type"], item["verified"], item["answered"]) == (
        "msg_one", "crm.accounts.created", True, "200")
    page = sbx.session().get(_url(sbx, name))
    assert page.status_code == 200 and "msg_one" in page.text and "verified" in page.text
    assert secret not in page.text


def test_it_flags_a_signature_made_with_another_secret(sbx):
    name = _bin()
    sbx.admin("POST", f"webhooks/{name}/config", {"secret": new_webhook_secret()})
    body, headers = _signed("msg_forged", [new_webhook_secret()])
    assert sbx.session().post(_url(sbx, name), data=body, headers=headers).json()["verified"] is False
    (item,) = sbx.admin("GET", f"webhooks/{name}?format=json")["deliveries"]
    assert item["verify_error"] == "No matching signature found"


def test_it_accepts_either_signature_during_a_rotation(sbx):
    name, old, new = _bin(), new_webhook_secret(), new_webhook_secret()
    sbx.admin("POST", f"webhooks/{name}/config", {"secret": old})
    body, headers = _signed("msg_rot", [new, old])
    assert " " in headers["webhook-signature"]
    assert sbx.session().post(_url(sbx, name), data=body, headers=headers).json()["verified"] is True


def test_it_fails_as_often_as_told_then_answers(sbx):
    name = _bin()
    sbx.admin("POST", f"webhooks/{name}/config", {"fail": "500", "times": 2})
    body, headers = _signed("msg_retry", [new_webhook_secret()])
    codes = [sbx.session().post(_url(sbx, name), data=body, headers=headers).status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    answered = [d["answered"] for d in sbx.admin("GET", f"webhooks/{name}?format=json")["deliveries"]]
    assert answered == ["200", "500", "500"]


def test_it_does_not_answer_in_time_when_told(sbx):
    name = _bin()
    sbx.admin("POST", f"webhooks/{name}/config", {"fail": "timeout", "times": 1, "delay_ms": 1500})
    body, headers = _signed("msg_slow", [new_webhook_secret()])
    with pytest.raises(requests.Timeout):
        sbx.session(timeout=0.5).post(_url(sbx, name), data=body, headers=headers)
    assert sbx.session().post(_url(sbx, name), data=body, headers=headers).status_code == 200


def test_it_receives_on_the_plain_http_listener_too(sbx):
    name = _bin()
    body, headers = _signed("msg_http", [new_webhook_secret()])
    resp = requests.post(_url(sbx, name, http=True), data=body, headers=headers, timeout=10)
    assert resp.status_code == 200 and resp.json()["verified"] is None


@pytest.mark.parametrize("config", [{"fail": "404"}, {"times": 0}, {"secret": ""}, {"delay_ms": 99_999},
                                    {"secrets": "whsec_x"}])
def test_it_refuses_a_bad_config(sbx, config):
    resp = sbx.session().post(_url(sbx, _bin()) + "/config", json=config)
    assert resp.status_code == 400 and "error" in resp.json()


def test_it_forgets_bins_on_reset(sbx):
    name = _bin()
    body, headers = _signed("msg_gone", [new_webhook_secret()])
    sbx.session().post(_url(sbx, name), data=body, headers=headers)
    sbx.reset()
    assert sbx.admin("GET", f"webhooks/{name}?format=json")["count"] == 0
